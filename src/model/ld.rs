//! Banded LD and the block partition (MODEL.md §2). `ld_band` computes the correlations
//! `r_jk = x_jᵀx_k / n` of SNPs at most `w` apart on the preprocessed design; `partition_blocks`
//! splits the SNPs into contiguous blocks of at most `M` SNPs by an exact dynamic programme that
//! minimizes the summed cut cost `κ(c) = S(c) − τ N(c)`. Pure functions of slices: no I/O, no
//! randomness, no threads.

use std::ops::Range;

/// Correlations of SNP pairs at most `w` apart, stored row by row:
/// `r[j * w + (k - j - 1)] = x_j·x_k / n` for `1 <= k - j <= w` (0-based `j`, `k`), and 0 where
/// `k >= p`. `w` is already capped at `p - 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct LdBand {
    /// Number of SNPs.
    pub p: usize,
    /// Band width (maximum index distance of a stored pair).
    pub w: usize,
    /// `p × w` row-major band, see the type documentation.
    pub r: Vec<f64>,
}

impl LdBand {
    /// `r_jk` for `0 <= j < k < p` with `k - j <= w`.
    fn get(&self, j: usize, k: usize) -> f64 {
        self.r[j * self.w + (k - j - 1)]
    }
}

/// LD band of a column-major `n × p` design whose columns are scaled so that `‖x_j‖² = n`;
/// the width `w` is capped at `p − 1`. Cost `O(npw)`.
///
/// # Panics
/// If `x.len() != n * p`, or if `n == 0` while `p >= 2`.
pub fn ld_band(x: &[f64], n: usize, p: usize, w: usize) -> LdBand {
    assert_eq!(
        x.len(),
        n * p,
        "design has {} entries, expected n*p = {}",
        x.len(),
        n * p
    );
    let w = w.min(p.saturating_sub(1));
    assert!(n > 0 || w == 0, "ld_band needs n >= 1 samples");
    let mut r = vec![0.0; p * w];
    let inv_n = 1.0 / n as f64;
    for j in 0..p {
        let xj = &x[j * n..(j + 1) * n];
        for k in (j + 1)..p.min(j + w + 1) {
            let xk = &x[k * n..(k + 1) * n];
            let dot: f64 = xj.iter().zip(xk).map(|(a, b)| a * b).sum();
            r[j * w + (k - j - 1)] = dot * inv_n;
        }
    }
    LdBand { p, w, r }
}

/// Default LD threshold `τ = max(0.05, 5/n)` for `n` training samples.
pub fn default_tau(n: usize) -> f64 {
    (5.0 / n as f64).max(0.05)
}

/// Cut costs `κ(c) = S(c) − τ N(c)` for the cuts `c = 1..p−1` (entry `c − 1`), where cut `c`
/// separates SNP `c` from SNP `c + 1` (1-based), `S(c)` sums `r_jk²` over the band pairs with
/// `j <= c < k` and `N(c)` counts them. `S` and `N` are updated incrementally in `O(pw)` total.
pub fn cut_costs(band: &LdBand, tau: f64) -> Vec<f64> {
    let (p, w) = (band.p, band.w);
    let mut kappa = Vec::with_capacity(p.saturating_sub(1));
    let mut s = 0.0;
    let mut count = 0usize;
    for c in 1..p {
        let left = c - 1;
        for k in (left + 1)..p.min(left + w + 1) {
            s += band.get(left, k).powi(2);
            count += 1;
        }
        for j in left.saturating_sub(w)..left {
            s -= band.get(j, left).powi(2);
            count -= 1;
        }
        kappa.push(s - tau * count as f64);
    }
    kappa
}

/// Optimal contiguous partition of the band's SNPs into blocks of at most `max_size` SNPs
/// (MODEL.md §2): `F(0) = 0`, `F(i) = min_{max(0, i−M) <= k < i} [F(k) + 1{k > 0} κ(k)]`, ties
/// broken in favour of the smallest `k`, then backtracked from `F(p)`. Returns the blocks as
/// 0-based half-open ranges in genomic order (empty for `p = 0`).
///
/// The tie rule means that among all optimal partitions the one returned has the smallest last
/// cut, then (given that) the smallest second-to-last cut, and so on: its cut list read from
/// the end, terminated by 0, is lexicographically smallest. `O(pM)` time, `O(p)` memory.
///
/// # Panics
/// If `max_size == 0`.
pub fn partition_blocks(band: &LdBand, max_size: usize, tau: f64) -> Vec<Range<usize>> {
    assert!(max_size >= 1, "maximum block size must be at least 1");
    let p = band.p;
    let kappa = cut_costs(band, tau);
    let cost = |k: usize| if k == 0 { 0.0 } else { kappa[k - 1] };
    let mut f = vec![0.0; p + 1];
    let mut arg = vec![0usize; p + 1];
    for i in 1..=p {
        let lo = i.saturating_sub(max_size);
        let mut best_k = lo;
        let mut best = f[lo] + cost(lo);
        for (k, &fk) in f.iter().enumerate().take(i).skip(lo + 1) {
            let v = fk + cost(k);
            if v < best {
                best = v;
                best_k = k;
            }
        }
        f[i] = best;
        arg[i] = best_k;
    }
    let mut blocks = Vec::new();
    let mut i = p;
    while i > 0 {
        blocks.push(arg[i]..i);
        i = arg[i];
    }
    blocks.reverse();
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// κ(c) straight from the definition: a double loop over all pairs crossing cut `c`.
    fn naive_kappa(band: &LdBand, tau: f64, c: usize) -> f64 {
        let mut s = 0.0;
        let mut count = 0.0;
        for j in 1..=c {
            for k in (c + 1)..=band.p {
                if k - j <= band.w {
                    let r = band.r[(j - 1) * band.w + (k - j - 1)];
                    s += r * r;
                    count += 1.0;
                }
            }
        }
        s - tau * count
    }

    /// A band with entries drawn from `values` (zero beyond `p`).
    fn band_from(rng: &mut ChaCha8Rng, p: usize, w: usize, values: &[f64]) -> LdBand {
        let w = w.min(p.saturating_sub(1));
        let mut r = vec![0.0; p * w];
        for j in 0..p {
            for d in 1..=w {
                if j + d < p {
                    r[j * w + d - 1] = values[rng.random_range(0..values.len())];
                }
            }
        }
        LdBand { p, w, r }
    }

    fn random_band(rng: &mut ChaCha8Rng, p: usize, w: usize) -> LdBand {
        let w = w.min(p.saturating_sub(1));
        let mut r = vec![0.0; p * w];
        for j in 0..p {
            for d in 1..=w {
                if j + d < p {
                    r[j * w + d - 1] = rng.random::<f64>() * 2.0 - 1.0;
                }
            }
        }
        LdBand { p, w, r }
    }

    fn cuts_of(blocks: &[Range<usize>]) -> Vec<usize> {
        blocks.iter().skip(1).map(|b| b.start).collect()
    }

    /// Every composition of `p` with parts `<= m`, as its cut list (ascending, 1-based cuts).
    fn all_cut_lists(p: usize, m: usize) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for mask in 0u32..(1u32 << (p - 1)) {
            let cuts: Vec<usize> = (1..p).filter(|c| mask & (1 << (c - 1)) != 0).collect();
            let mut prev = 0;
            let mut ok = true;
            for &c in cuts.iter().chain(std::iter::once(&p)) {
                ok &= c - prev <= m;
                prev = c;
            }
            if ok {
                out.push(cuts);
            }
        }
        out
    }

    /// Tie key of the documented rule: cuts from the last to the first, then 0.
    fn tie_key(cuts: &[usize]) -> Vec<usize> {
        cuts.iter()
            .rev()
            .copied()
            .chain(std::iter::once(0))
            .collect()
    }

    fn check_blocks_valid(blocks: &[Range<usize>], p: usize, m: usize) {
        let mut next = 0;
        for b in blocks {
            assert_eq!(b.start, next);
            assert!(
                b.end > b.start && b.end - b.start <= m,
                "block {b:?} breaks cap {m}"
            );
            next = b.end;
        }
        assert_eq!(next, p);
    }

    #[test]
    fn cut_costs_match_naive_double_loop() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for &(p, w) in &[(2, 1), (3, 5), (10, 3), (40, 7), (57, 20), (30, 29)] {
            let band = random_band(&mut rng, p, w);
            let tau = 0.13;
            let fast = cut_costs(&band, tau);
            assert_eq!(fast.len(), p - 1);
            for c in 1..p {
                let naive = naive_kappa(&band, tau, c);
                assert!((fast[c - 1] - naive).abs() < 1e-12, "p={p} w={w} c={c}");
            }
        }
        assert!(cut_costs(
            &LdBand {
                p: 1,
                w: 0,
                r: vec![]
            },
            0.1
        )
        .is_empty());
    }

    #[test]
    fn ld_band_hand_computed() {
        // n = 4 columns of ±1 (so ‖x_j‖² = 4): x0·x1 = 0, x0·x2 = 4, x1·x2 = 0, x0·x3 = -2, x1·x3 = -2, x2·x3 = -2.
        let x = [
            1.0, 1.0, -1.0, -1.0, //
            1.0, -1.0, 1.0, -1.0, //
            1.0, 1.0, -1.0, -1.0, //
            -1.0, 1.0, 1.0, 1.0,
        ];
        let band = ld_band(&x, 4, 4, 2);
        assert_eq!(band.w, 2);
        assert_eq!(band.r, vec![0.0, 1.0, 0.0, -0.5, -0.5, 0.0, 0.0, 0.0]);
        let wide = ld_band(&x, 4, 4, 10);
        assert_eq!(wide.w, 3);
        assert_eq!(
            wide.r,
            vec![0.0, 1.0, -0.5, 0.0, -0.5, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        let single = ld_band(&x[..4], 4, 1, 20);
        assert_eq!((single.p, single.w, single.r.len()), (1, 0, 0));
    }

    #[test]
    fn dp_equals_brute_force_over_all_compositions() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for p in 1..=14 {
            for &m in &[1usize, 2, 3, 5, 14] {
                for rep in 0..3 {
                    let w = [1usize, 3, 20][rep];
                    let band = random_band(&mut rng, p, w);
                    let tau = 0.3;
                    let obj = |cuts: &[usize]| {
                        cuts.iter()
                            .map(|&c| naive_kappa(&band, tau, c))
                            .sum::<f64>()
                    };
                    let mut scored: Vec<(f64, Vec<usize>)> = all_cut_lists(p, m)
                        .into_iter()
                        .map(|c| (obj(&c), c))
                        .collect();
                    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let blocks = partition_blocks(&band, m, tau);
                    check_blocks_valid(&blocks, p, m);
                    let got = cuts_of(&blocks);
                    assert!(
                        (obj(&got) - scored[0].0).abs() < 1e-12,
                        "p={p} m={m}: not optimal"
                    );
                    if scored.len() == 1 || scored[1].0 - scored[0].0 > 1e-9 {
                        assert_eq!(got, scored[0].1, "p={p} m={m}");
                    }
                }
            }
        }
    }

    #[test]
    fn tie_rule_on_exact_ties_matches_brute_force() {
        // Entries in {0, ±1/2, 1} and τ in {1/4, 1/2}: every objective is an exact dyadic sum, so
        // ties are exact and the brute force can apply the documented rule.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for p in 1..=12 {
            for &m in &[1usize, 2, 4, 12] {
                for &tau in &[0.25, 0.5] {
                    let band = band_from(&mut rng, p, 3, &[0.0, 0.5, -0.5, 1.0]);
                    let obj = |cuts: &[usize]| {
                        cuts.iter()
                            .map(|&c| naive_kappa(&band, tau, c))
                            .sum::<f64>()
                    };
                    let lists = all_cut_lists(p, m);
                    let best = lists.iter().map(|c| obj(c)).fold(f64::INFINITY, f64::min);
                    let expected = lists
                        .into_iter()
                        .filter(|c| obj(c) == best)
                        .min_by(|a, b| tie_key(a).cmp(&tie_key(b)))
                        .unwrap();
                    let got = cuts_of(&partition_blocks(&band, m, tau));
                    assert_eq!(got, expected, "p={p} m={m} tau={tau}");
                }
            }
        }
    }

    #[test]
    fn all_zero_costs_put_the_long_blocks_last() {
        // κ ≡ 0: every partition ties; smallest k at i = 10 is 6, at i = 6 it is 2, at i = 2 it is 0.
        let band = LdBand {
            p: 10,
            w: 2,
            r: vec![0.0; 20],
        };
        assert_eq!(partition_blocks(&band, 4, 0.0), vec![0..2, 2..6, 6..10]);
        assert_eq!(partition_blocks(&band, 10, 0.0), vec![0..10]);
    }

    #[test]
    fn edge_cases_p0_p1_p2() {
        assert!(partition_blocks(
            &LdBand {
                p: 0,
                w: 0,
                r: vec![]
            },
            5,
            0.1
        )
        .is_empty());
        assert_eq!(
            partition_blocks(
                &LdBand {
                    p: 1,
                    w: 0,
                    r: vec![]
                },
                1,
                0.1
            ),
            vec![0..1]
        );
        // p = 2: κ(1) = r² − τ; cut iff κ(1) < 0, one block on a tie, forced cut when M = 1.
        let band = |r: f64| LdBand {
            p: 2,
            w: 1,
            r: vec![r, 0.0],
        };
        assert_eq!(partition_blocks(&band(0.1), 2, 0.05), vec![0..1, 1..2]);
        assert_eq!(partition_blocks(&band(0.5), 2, 0.05), vec![0..2]);
        assert_eq!(partition_blocks(&band(0.5), 2, 0.25), vec![0..2]);
        assert_eq!(partition_blocks(&band(0.9), 1, 0.05), vec![0..1, 1..2]);
    }

    #[test]
    fn independent_snps_become_singletons() {
        let (n, p) = (2000, 60);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut x = vec![0.0; n * p];
        for j in 0..p {
            let col = &mut x[j * n..(j + 1) * n];
            for v in col.iter_mut() {
                *v = if rng.random::<bool>() { 1.0 } else { -1.0 };
            }
        }
        let band = ld_band(&x, n, p, 20);
        let blocks = partition_blocks(&band, 100, default_tau(n));
        assert_eq!(blocks.len(), p);
    }

    #[test]
    fn perfect_ld_cuts_only_where_forced() {
        let (n, p) = (5, 23);
        let x: Vec<f64> = (0..p)
            .flat_map(|_| [1.0, -1.0, 1.0, -1.0, 0.0])
            .map(|v| v * (5.0f64 / 4.0).sqrt())
            .collect();
        let band = ld_band(&x, n, p, 4);
        assert!(band
            .r
            .iter()
            .take((p - 4) * 4)
            .all(|&r| (r - 1.0).abs() < 1e-12));
        for m in [5usize, 7, 23, 30] {
            let blocks = partition_blocks(&band, m, 0.05);
            check_blocks_valid(&blocks, p, m);
            assert_eq!(blocks.len(), p.div_ceil(m), "m={m}");
        }
    }

    #[test]
    fn default_tau_values() {
        assert_eq!(default_tau(50), 0.1);
        assert_eq!(default_tau(100), 0.05);
        assert_eq!(default_tau(1000), 0.05);
    }

    #[test]
    #[ignore]
    fn partition_p20000_timing() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let band = random_band(&mut rng, 20_000, 20);
        let start = std::time::Instant::now();
        let blocks = partition_blocks(&band, 100, 0.05);
        println!(
            "p = 20000, M = 100, w = 20: {} blocks in {:?}",
            blocks.len(),
            start.elapsed()
        );
        check_blocks_valid(&blocks, 20_000, 100);
    }
}
