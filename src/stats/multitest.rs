//! Multiple-testing corrections over a family of p-values. Pure functions only.

/// Benjamini–Hochberg q-values (step-up adjusted p-values, R's `p.adjust(p, "BH")`), in the order
/// of `p`. Non-finite p-values are left out of the family (m counts only finite ones) and get a
/// NaN q-value.
pub fn bh_qvalues(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_finite()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let m = order.len() as f64;
    let mut q = vec![f64::NAN; p.len()];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        let adj = p[i] * m / (rank + 1) as f64;
        running = running.min(adj);
        q[i] = running.clamp(0.0, 1.0);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_r_p_adjust_bh() {
        // R 4.2: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.5, 0.2), "BH")
        let p = [0.01, 0.04, 0.03, 0.005, 0.5, 0.2];
        let want = [0.03, 0.06, 0.06, 0.03, 0.5, 0.24];
        let q = bh_qvalues(&p);
        for (a, b) in q.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    #[test]
    fn ties_and_missing_values() {
        let q = bh_qvalues(&[0.02, f64::NAN, 0.02, 1.0]);
        assert!(q[1].is_nan());
        // m = 3: both 0.02 get min(0.02*3/2, 1) = 0.03.
        assert!(
            (q[0] - 0.03).abs() < 1e-15 && (q[2] - 0.03).abs() < 1e-15,
            "{q:?}"
        );
        assert_eq!(q[3], 1.0);
        assert!(bh_qvalues(&[]).is_empty());
    }
}
