//! The truth files that `simulate` writes beside a cohort: `truth/causal.tsv` (one row per causal
//! SNP) read by column name. Only the columns the finalize stage needs are parsed.

use std::collections::HashMap;
use std::path::Path;

use crate::io::tsv::{Table, TsvError};

/// One causal SNP of the simulation truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CausalSnp {
    pub gene_id: String,
    pub chrom: String,
    /// 1-based position.
    pub pos: u64,
    pub variant_id: String,
    pub ref_allele: String,
    pub alt: String,
}

/// Columns of `causal.tsv` that are read.
pub const CAUSAL_COLUMNS: [&str; 6] = ["gene_id", "chrom", "pos", "variant_id", "ref", "alt"];

/// Reads `causal.tsv`, grouped by gene ID (file order within a gene).
pub fn read_causal(path: &Path) -> Result<HashMap<String, Vec<CausalSnp>>, TsvError> {
    let table = Table::read(path, &CAUSAL_COLUMNS)?;
    let mut out: HashMap<String, Vec<CausalSnp>> = HashMap::new();
    for r in table.rows() {
        let snp = CausalSnp {
            gene_id: r.str("gene_id")?.to_string(),
            chrom: r.str("chrom")?.to_string(),
            pos: r.u64("pos")?,
            variant_id: r.str("variant_id")?.to_string(),
            ref_allele: r.str("ref")?.to_string(),
            alt: r.str("alt")?.to_string(),
        };
        out.entry(snp.gene_id.clone()).or_default().push(snp);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::text::testutil::plain;

    #[test]
    fn groups_causal_snps_by_gene() {
        let (_d, p) = plain(
            "causal.tsv",
            "gene_id\tchrom\tpos\tvariant_id\tref\talt\tbeta\nG1\tchr1\t100\tchr1_100_A_C\tA\tC\t0.5\nG2\tchr1\t300\tv3\tG\tT\t-1\nG1\tchr1\t200\tv2\tC\tG\t0.1\n",
        );
        let m = read_causal(&p).unwrap();
        assert_eq!(m["G1"].len(), 2);
        assert_eq!(m["G1"][1].pos, 200);
        assert_eq!(m["G2"][0].alt, "T");
    }

    #[test]
    fn bad_position_names_line_and_column() {
        let (_d, p) = plain(
            "causal.tsv",
            "gene_id\tchrom\tpos\tvariant_id\tref\talt\nG1\tchr1\tx\tv\tA\tC\n",
        );
        let e = read_causal(&p).unwrap_err().to_string();
        assert!(e.contains("causal.tsv:2: column `pos`"), "{e}");
    }
}
