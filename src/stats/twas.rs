//! S-PrediXcan-style gene association from GWAS summary statistics: allele harmonization of a
//! GWAS row against a model SNP, and the gene z-score z_g = Σ_l w_l σ_l ẑ_l / σ_g with
//! σ_g² = wᵀ Σ w over the SNPs used (Barbeira et al. 2018). Pure functions only.

use crate::stats::normal;

/// How a GWAS row lines up with a model SNP (model alleles: ref = non-effect, eff = counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Harmonized {
    /// The GWAS effect allele is the model's effect allele (possibly on the other strand);
    /// `sign` = +1, or −1 when the GWAS effect allele is the model's reference allele.
    Use { sign: i8, complement: bool },
    /// The model SNP is strand-ambiguous (A/T or C/G): the strand cannot be told, dropped.
    Ambiguous,
    /// The alleles do not correspond on either strand.
    Mismatch,
}

fn complement(a: &str) -> Option<String> {
    a.chars()
        .map(|c| match c.to_ascii_uppercase() {
            'A' => Some('T'),
            'T' => Some('A'),
            'C' => Some('G'),
            'G' => Some('C'),
            _ => None,
        })
        .collect()
}

/// True for SNPs whose two alleles are each other's complement (A/T, C/G): their strand cannot
/// be inferred from the alleles.
pub fn is_strand_ambiguous(a: &str, b: &str) -> bool {
    a.len() == 1 && complement(a).is_some_and(|c| c.eq_ignore_ascii_case(b))
}

/// Harmonizes a GWAS row (effect allele `a1`, other allele `a2`) with a model SNP (`model_ref`,
/// `model_eff`), case-insensitively: same alleles keep the sign, swapped alleles flip it, the
/// same on the complementary strand; strand-ambiguous model SNPs are dropped.
pub fn harmonize(model_ref: &str, model_eff: &str, a1: &str, a2: &str) -> Harmonized {
    let (r, e) = (
        model_ref.to_ascii_uppercase(),
        model_eff.to_ascii_uppercase(),
    );
    let (a1, a2) = (a1.to_ascii_uppercase(), a2.to_ascii_uppercase());
    if is_strand_ambiguous(&r, &e) {
        return Harmonized::Ambiguous;
    }
    if a1 == e && a2 == r {
        return Harmonized::Use {
            sign: 1,
            complement: false,
        };
    }
    if a1 == r && a2 == e {
        return Harmonized::Use {
            sign: -1,
            complement: false,
        };
    }
    if let (Some(c1), Some(c2)) = (complement(&a1), complement(&a2)) {
        if c1 == e && c2 == r {
            return Harmonized::Use {
                sign: 1,
                complement: true,
            };
        }
        if c1 == r && c2 == e {
            return Harmonized::Use {
                sign: -1,
                complement: true,
            };
        }
    }
    Harmonized::Mismatch
}

/// One GWAS row that may correspond to a model SNP: effect allele, other allele, z-score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GwasAlleles<'a> {
    pub a1: &'a str,
    pub a2: &'a str,
    pub z: f64,
}

/// A model's SNPs after harmonization with the GWAS.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HarmonizedGene {
    /// GWAS z-score oriented to the model's effect allele; `None` for SNPs not used.
    pub z: Vec<Option<f64>>,
    /// SNPs whose GWAS effect allele was the model's reference allele (sign flipped).
    pub n_flipped: usize,
    /// SNPs matched only on the complementary strand (sign from the complemented alleles).
    pub n_complement: usize,
    /// Strand-ambiguous model SNPs (A/T, C/G), dropped.
    pub n_ambiguous: usize,
    /// SNPs absent from the GWAS, or whose row has no finite z-score.
    pub n_absent: usize,
    /// SNPs whose GWAS alleles match the model's on neither strand, dropped.
    pub n_mismatch: usize,
}

/// Harmonizes every SNP of a model: `model[l]` = (reference, effect allele), `gwas[l]` = the
/// GWAS rows found for that SNP (by ID or position; empty when absent). The first row that
/// lines up (see [`harmonize`]) is used; a strand-ambiguous model SNP is dropped without
/// looking at the GWAS.
pub fn harmonize_gene(model: &[(&str, &str)], gwas: &[Vec<GwasAlleles<'_>>]) -> HarmonizedGene {
    debug_assert_eq!(model.len(), gwas.len());
    let mut out = HarmonizedGene {
        z: vec![None; model.len()],
        ..HarmonizedGene::default()
    };
    for (l, (&(r, e), rows)) in model.iter().zip(gwas).enumerate() {
        if is_strand_ambiguous(r, e) {
            out.n_ambiguous += 1;
            continue;
        }
        let rows: Vec<&GwasAlleles> = rows.iter().filter(|g| g.z.is_finite()).collect();
        if rows.is_empty() {
            out.n_absent += 1;
            continue;
        }
        let hit = rows.iter().find_map(|g| match harmonize(r, e, g.a1, g.a2) {
            Harmonized::Use { sign, complement } => Some((g.z * f64::from(sign), sign, complement)),
            _ => None,
        });
        match hit {
            Some((z, sign, complement)) => {
                out.z[l] = Some(z);
                out.n_flipped += usize::from(sign < 0);
                out.n_complement += usize::from(complement);
            }
            None => out.n_mismatch += 1,
        }
    }
    out
}

/// The gene-level association of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneZ {
    /// z_g; NaN when no SNP was usable or the prediction has no variance.
    pub z: f64,
    /// Two-sided normal p-value of z_g.
    pub p: f64,
    /// SNPs that entered z_g.
    pub n_used: usize,
}

/// z_g = Σ_{l∈U} w_l σ_l ẑ_l / σ_g, σ_g² = w_Uᵀ Σ_UU w_U, σ_l² = Σ_ll, over the SNPs U whose
/// harmonized GWAS z-score `z[l]` is present. `cov` is the `k × k` covariance of the model's `k`
/// SNPs (row-major), `w` their weights per effect allele, `z` the z-scores already oriented to
/// the model's effect allele.
pub fn gene_z(w: &[f64], cov: &[f64], z: &[Option<f64>]) -> GeneZ {
    let k = w.len();
    debug_assert_eq!(cov.len(), k * k);
    debug_assert_eq!(z.len(), k);
    let used: Vec<usize> = (0..k)
        .filter(|&l| z[l].is_some_and(f64::is_finite) && w[l] != 0.0)
        .collect();
    let mut num = 0.0;
    let mut var = 0.0;
    for &a in &used {
        let sd = cov[a * k + a].max(0.0).sqrt();
        num += w[a] * sd * z[a].unwrap_or(0.0);
        for &b in &used {
            var += w[a] * cov[a * k + b] * w[b];
        }
    }
    if used.is_empty() || var.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return GeneZ {
            z: f64::NAN,
            p: f64::NAN,
            n_used: used.len(),
        };
    }
    let zg = num / var.sqrt();
    GeneZ {
        z: zg,
        p: normal::two_sided_p(zg),
        n_used: used.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harmonization_cases() {
        // Model SNP ref C, eff T.
        let same = harmonize("C", "T", "T", "C");
        assert_eq!(
            same,
            Harmonized::Use {
                sign: 1,
                complement: false
            }
        );
        let swapped = harmonize("C", "T", "c", "t");
        assert_eq!(
            swapped,
            Harmonized::Use {
                sign: -1,
                complement: false
            }
        );
        // Other strand: C/T is G/A.
        let comp = harmonize("C", "T", "A", "G");
        assert_eq!(
            comp,
            Harmonized::Use {
                sign: 1,
                complement: true
            }
        );
        let comp_swapped = harmonize("C", "T", "G", "A");
        assert_eq!(
            comp_swapped,
            Harmonized::Use {
                sign: -1,
                complement: true
            }
        );
        // Strand-ambiguous model SNPs are dropped whatever the GWAS says.
        assert_eq!(harmonize("A", "T", "T", "A"), Harmonized::Ambiguous);
        assert_eq!(harmonize("G", "C", "G", "C"), Harmonized::Ambiguous);
        // Alleles that match on neither strand.
        assert_eq!(harmonize("C", "T", "C", "A"), Harmonized::Mismatch);
        assert_eq!(harmonize("C", "T", "CT", "C"), Harmonized::Mismatch);
        // Indels are matched literally and never complemented into ambiguity.
        assert!(!is_strand_ambiguous("AT", "TA"));
        assert_eq!(
            harmonize("A", "AT", "AT", "A"),
            Harmonized::Use {
                sign: 1,
                complement: false
            }
        );
    }

    #[test]
    fn single_snp_gene_z_is_the_snp_z() {
        // z_g = w σ ẑ / sqrt(w² σ²) = sign(w) ẑ.
        let g = gene_z(&[0.7], &[0.42], &[Some(3.1)]);
        assert!((g.z - 3.1).abs() < 1e-12 && g.n_used == 1);
        let g = gene_z(&[-0.2], &[0.42], &[Some(3.1)]);
        assert!((g.z + 3.1).abs() < 1e-12);
        assert!((g.p - normal::two_sided_p(3.1)).abs() < 1e-15);
    }

    #[test]
    fn two_snp_gene_z_matches_closed_form() {
        // Σ = [[s1², ρ s1 s2], [ρ s1 s2, s2²]], z_g = (w1 s1 z1 + w2 s2 z2) /
        // sqrt(w1² s1² + 2 w1 w2 ρ s1 s2 + w2² s2²).
        let (s1, s2, rho, w1, w2, z1, z2) = (0.5f64, 0.8f64, 0.6, 0.3, -0.4, 2.0, -1.5);
        let cov = [s1 * s1, rho * s1 * s2, rho * s1 * s2, s2 * s2];
        let want = (w1 * s1 * z1 + w2 * s2 * z2)
            / (w1 * w1 * s1 * s1 + 2.0 * w1 * w2 * rho * s1 * s2 + w2 * w2 * s2 * s2).sqrt();
        let g = gene_z(&[w1, w2], &cov, &[Some(z1), Some(z2)]);
        assert!((g.z - want).abs() < 1e-12, "{} vs {want}", g.z);
        assert_eq!(g.n_used, 2);
        // A SNP without a GWAS z leaves both the numerator and σ_g: the single-SNP result.
        let g = gene_z(&[w1, w2], &cov, &[None, Some(z2)]);
        assert!((g.z - z2 * w2.signum()).abs() < 1e-12);
        assert_eq!(g.n_used, 1);
        let none = gene_z(&[w1, w2], &cov, &[None, None]);
        assert!(none.z.is_nan() && none.n_used == 0);
    }

    #[test]
    fn harmonize_gene_counts_each_case() {
        let model = [
            ("C", "T"),
            ("A", "G"),
            ("A", "T"),
            ("G", "T"),
            ("C", "A"),
            ("G", "C"),
        ];
        let row = |a1, a2, z| GwasAlleles { a1, a2, z };
        let gwas = vec![
            vec![row("T", "C", 2.0)],  // same alleles
            vec![row("A", "G", 1.5)],  // swapped: flip
            vec![row("T", "A", 4.0)],  // A/T: ambiguous
            vec![],                    // absent
            vec![row("G", "T", -1.0)], // C/A on the other strand is G/T
            vec![row("G", "C", 3.0)],  // C/G: ambiguous
        ];
        let mut gwas = gwas;
        gwas[3] = vec![row("T", "G", f64::NAN)]; // present but no z: absent
        let h = harmonize_gene(&model, &gwas);
        assert_eq!(
            h.z,
            vec![Some(2.0), Some(-1.5), None, None, Some(1.0), None]
        );
        assert_eq!(
            (
                h.n_flipped,
                h.n_complement,
                h.n_ambiguous,
                h.n_absent,
                h.n_mismatch
            ),
            (2, 1, 2, 1, 0)
        );
        // A row at the same position with other alleles (e.g. a multi-allelic split) is skipped
        // in favour of the one that lines up; no row lining up is a mismatch.
        let h = harmonize_gene(
            &[("C", "T"), ("C", "T")],
            &[
                vec![row("C", "G", 9.0), row("C", "T", 0.5)],
                vec![row("C", "G", 9.0)],
            ],
        );
        assert_eq!(h.z, vec![Some(-0.5), None]);
        assert_eq!((h.n_flipped, h.n_mismatch), (1, 1));
    }
}
