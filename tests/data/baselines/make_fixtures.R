# Generates the reference values used by the tests of src/model/baselines.rs.
# Run from the repository root:  Rscript tests/data/baselines/make_fixtures.R
# Every TSV written here starts with '#' comment lines naming R, glmnet and the exact call.
# glmnet runs with thresh = 1e-20 (maxit = 1e7): at thresh = 1e-14 case (b) is still ~1e-5 away from
# convergence (its coefficients move by 9e-6 between 1e-14 and 1e-18), too loose for a 1e-6 comparison.
suppressPackageStartupMessages(library(glmnet))
out_dir <- "tests/data/baselines"
versions <- sprintf("# R %s; glmnet %s", paste(R.version$major, R.version$minor, sep = "."),
                    as.character(packageVersion("glmnet")))
fmt <- function(v) sprintf("%.17g", v)
write_tsv <- function(name, header, m, comments) {
  m <- as.matrix(m)
  con <- file(file.path(out_dir, name), "w")
  writeLines(c(versions, paste0("# ", comments)), con)
  writeLines(paste(header, collapse = "\t"), con)
  for (i in seq_len(nrow(m))) writeLines(paste(fmt(m[i, ]), collapse = "\t"), con)
  close(con)
}

# ---------------------------------------------------------------- elastic net
enet_case <- function(tag, x, y, foldid, std = TRUE, intr = TRUE, seed_note) {
  n <- nrow(x); p <- ncol(x)
  if (!is.null(foldid)) {
    write_tsv(sprintf("enet_%s_data.tsv", tag), c("y", "foldid", sprintf("x%d", 1:p)),
              cbind(y, foldid, x), c(seed_note, sprintf("n=%d p=%d; columns: y, foldid, x1..xp", n, p)))
  }
  call_tag <- sprintf("standardize=%s, intercept=%s", std, intr)
  # default lambda sequence (and the whole path)
  fit <- glmnet(x, y, alpha = 0.5, thresh = 1e-20, maxit = 1e7, standardize = std, intercept = intr)
  cf <- as.matrix(coef(fit))
  write_tsv(sprintf("enet_%s_path%s.tsv", tag, if (std) "" else "_raw"),
            c("lambda", "intercept", sprintf("b%d", 1:p)), cbind(fit$lambda, t(cf)),
            c(sprintf("glmnet(x, y, alpha=0.5, thresh=1e-20, maxit=1e7, %s)", call_tag),
              "one row per lambda of glmnet's default sequence: lambda, coef(fit) (intercept first)"))
  lam_max <- fit$lambda[1]
  lams <- signif(lam_max * c(0.5, 0.1, 0.02), 6)
  fx <- glmnet(x, y, alpha = 0.5, lambda = lams, thresh = 1e-20, maxit = 1e7, standardize = std, intercept = intr)
  write_tsv(sprintf("enet_%s_fixed%s.tsv", tag, if (std) "" else "_raw"),
            c("lambda", "intercept", sprintf("b%d", 1:p)), cbind(fx$lambda, t(as.matrix(coef(fx)))),
            c(sprintf("glmnet(x, y, alpha=0.5, lambda=c(%s), thresh=1e-20, maxit=1e7, %s)",
                      paste(fmt(lams), collapse = ", "), call_tag),
              "one row per lambda: lambda, coef(fit) (intercept first)"))
  if (tag == "c") {
    pd <- glmnet(x, y, alpha = 0.5)
    cd <- suppressWarnings(cv.glmnet(x, y, alpha = 0.5, foldid = foldid, lambda = pd$lambda, type.measure = "mse"))
    write_tsv("enet_c_cv_default_thresh.tsv", c("lambda", "cvm", "cvsd"), cbind(cd$lambda, cd$cvm, cd$cvsd),
              c("pd <- glmnet(x, y, alpha=0.5); cv.glmnet(x, y, alpha=0.5, foldid=foldid, lambda=pd$lambda, type.measure='mse')",
                sprintf("default thresh=1e-7 and maxit; lambda.min index (1-based) = %d, lambda.1se index = %d",
                        cd$index[1, 1], cd$index[2, 1])))
    fd <- glmnet(x, y, alpha = 0.5, lambda = lams)
    write_tsv("enet_c_fixed_default_thresh.tsv", c("lambda", "intercept", sprintf("b%d", 1:p)),
              cbind(fd$lambda, t(as.matrix(coef(fd)))),
              c(sprintf("glmnet(x, y, alpha=0.5, lambda=c(%s))  # default thresh=1e-7: not converged in the correlated block",
                        paste(fmt(lams), collapse = ", "))))
  }
  if (!is.null(foldid) && std && intr) {
    cv <- suppressWarnings(cv.glmnet(x, y, alpha = 0.5, foldid = foldid, lambda = fit$lambda,
                                     thresh = 1e-20, maxit = 1e7, type.measure = "mse"))
    write_tsv(sprintf("enet_%s_cv.tsv", tag), c("lambda", "cvm", "cvsd"),
              cbind(cv$lambda, cv$cvm, cv$cvsd),
              c("cv.glmnet(x, y, alpha=0.5, foldid=foldid, lambda=<enet_path lambdas>, thresh=1e-20, maxit=1e7, type.measure='mse')",
                sprintf("grouped=%s (cv.glmnet forces FALSE when n/nfolds < 3)", n / max(foldid) >= 3)))
    b_min <- as.numeric(as.matrix(coef(cv, s = "lambda.min")))
    write_tsv(sprintf("enet_%s_cvopt.tsv", tag),
              c("lambda_min", "lambda_1se", "index_min", "index_1se", "intercept", sprintf("b%d", 1:p)),
              matrix(c(cv$lambda.min, cv$lambda.1se, cv$index[1, 1], cv$index[2, 1], b_min), nrow = 1),
              c("same cv.glmnet call; index_* are 1-based; coefficients = coef(cv, s='lambda.min')"))
  }
}

# (a) n=80, p=20, AR(1) correlated X (rho=0.6), 3 non-zero effects
set.seed(20240601)
n <- 80; p <- 20
S <- 0.6^abs(outer(1:p, 1:p, "-"))
x <- matrix(rnorm(n * p), n, p) %*% chol(S)
b <- numeric(p); b[c(2, 7, 15)] <- c(1.0, -0.7, 0.5)
y <- drop(3 + x %*% b + rnorm(n))
foldid <- sample(rep(1:10, length.out = n))
enet_case("a", x, y, foldid, seed_note = "set.seed(20240601); x = N(0,1) %*% chol(0.6^|i-j|), b[c(2,7,15)] = c(1,-0.7,0.5), y = 3 + x b + N(0,1)")
# (a, preprocessed scale) columns centred with ||x_j||^2 = n, y centred; standardize=FALSE, intercept=FALSE
xp <- scale(x, center = TRUE, scale = FALSE); xp <- sweep(xp, 2, sqrt(colSums(xp^2) / n), "/")
yp <- y - mean(y); yp <- yp / sqrt(sum(yp^2) / (n - 1))
write_tsv("enet_a_pre_data.tsv", c("y", sprintf("x%d", 1:p)), cbind(yp, xp),
          c("case (a) on the MODEL.md section 1 scale: x centred, ||x_j||^2 = n; y centred, ||y||^2 = n - 1"))
enet_case("a_pre", xp, yp, NULL, std = FALSE, intr = FALSE, seed_note = "")

# (b) n=60, p=200 (p > n), AR(1) rho=0.3, 5 non-zero effects
set.seed(20240602)
n <- 60; p <- 200
S <- 0.3^abs(outer(1:p, 1:p, "-"))
x <- matrix(rnorm(n * p), n, p) %*% chol(S)
b <- numeric(p); b[c(10, 50, 90, 130, 170)] <- c(1.2, -1.0, 0.8, 0.6, -0.5)
y <- drop(-1 + x %*% b + rnorm(n))
foldid <- sample(rep(1:10, length.out = n))
enet_case("b", x, y, foldid, seed_note = "set.seed(20240602); x = N(0,1) %*% chol(0.3^|i-j|), b[c(10,50,90,130,170)] = c(1.2,-1,0.8,0.6,-0.5), y = -1 + x b + N(0,1)")

# (c) n=100, p=30, columns 11..18 a block sharing one factor (pairwise r ~ 0.98), 2 effects inside the block
set.seed(20240603)
n <- 100; p <- 30
x <- matrix(rnorm(n * p), n, p)
f <- rnorm(n)
x[, 11:18] <- f + 0.15 * matrix(rnorm(n * 8), n, 8)
b <- numeric(p); b[c(12, 14, 25)] <- c(0.8, 0.6, -0.5)
y <- drop(0.5 + x %*% b + rnorm(n))
foldid <- sample(rep(1:10, length.out = n))
enet_case("c", x, y, foldid, seed_note = "set.seed(20240603); x = N(0,1), x[,11:18] = f + 0.15 N(0,1), b[c(12,14,25)] = c(0.8,0.6,-0.5), y = 0.5 + x b + N(0,1)")

# ---------------------------------------------------------------- ridge / REML
# Data on the MODEL.md section 1 scale with C = intercept (n_eff = n - 1).
# REML written directly from its definition (no eigendecomposition): L is an orthonormal basis of
# the complement of 1, V = sg2 K + se2 I with K = X X^T / p, delta = se2 / sg2,
# loglik = -0.5 (n_eff log(2 pi) + log det(L^T V L) + z^T (L^T V L)^{-1} z), z = L^T y,
# sg2 profiled out: sg2 = z^T H^{-1} z / n_eff with H = L^T K L + delta I.
ridge_case <- function(tag, n, p, seed) {
  set.seed(seed)
  maf <- runif(p, 0.05, 0.5)
  g <- sapply(maf, function(f) rbinom(n, 2, f))
  stopifnot(all(apply(g, 2, var) > 0))
  x <- scale(g, center = TRUE, scale = FALSE)
  x <- sweep(x, 2, sqrt(colSums(x^2) / n), "/")
  b <- rnorm(p, 0, sqrt(0.5 / p))
  e <- drop(x %*% b) + rnorm(n, 0, sqrt(0.5))
  y <- e - mean(e); y <- y / sqrt(sum(y^2) / (n - 1))
  n_eff <- n - 1
  write_tsv(sprintf("ridge_%s_data.tsv", tag), c("y", sprintf("x%d", 1:p)), cbind(y, x),
            c(sprintf("set.seed(%d); n=%d p=%d; dosages rbinom(2, maf ~ U(0.05,0.5)); x centred, ||x_j||^2 = n; y = x b + e, centred, ||y||^2 = n - 1", seed, n, p)))
  lams <- c(0.5, 5, 50)
  fixed <- t(sapply(lams, function(l) c(l, solve(crossprod(x) + l * diag(p), crossprod(x, y)))))
  write_tsv(sprintf("ridge_%s_fixed.tsv", tag), c("lambda", sprintf("b%d", 1:p)), fixed,
            c("solve(crossprod(x) + lambda * diag(p), crossprod(x, y))"))
  L <- qr.Q(qr(matrix(1, n, 1)), complete = TRUE)[, -1]
  K <- tcrossprod(x) / p
  LKL <- crossprod(L, K %*% L)
  z <- drop(crossprod(L, y))
  prof <- function(ld) {
    H <- LKL + exp(ld) * diag(n_eff)
    sg2 <- sum(z * solve(H, z)) / n_eff
    -0.5 * (n_eff * log(2 * pi * sg2) + determinant(H, logarithm = TRUE)$modulus + n_eff)
  }
  opt <- optimize(prof, c(log(1e-5), log(1e5)), maximum = TRUE, tol = 1e-12)
  delta <- exp(opt$maximum)
  H <- LKL + delta * diag(n_eff)
  sg2 <- sum(z * solve(H, z)) / n_eff
  se2 <- delta * sg2
  V <- crossprod(L, (sg2 * K + se2 * diag(n)) %*% L)
  ll <- -0.5 * (n_eff * log(2 * pi) + determinant(V, logarithm = TRUE)$modulus + sum(z * solve(V, z)))
  lam <- delta * p
  beta <- solve(crossprod(x) + lam * diag(p), crossprod(x, y))
  write_tsv(sprintf("ridge_%s_reml.tsv", tag),
            c("n_eff", "sigma_g2", "sigma_e2", "h2", "lambda", "log_lik", sprintf("b%d", 1:p)),
            matrix(c(n_eff, sg2, se2, sg2 / (sg2 + se2), lam, ll, beta), nrow = 1),
            c("REML by optimize(profile loglik over log(delta), c(log(1e-5), log(1e5)), tol=1e-12), direct determinants on L^T V L (see make_fixtures.R)",
              "h2 = sg2/(sg2+se2); lambda = delta p; b = solve(crossprod(x) + lambda diag(p), crossprod(x, y))"))
}
ridge_case("a", 80, 20, 20240611)
ridge_case("b", 60, 150, 20240612)
