//! Integration tests: cross-checks of library readers against reference tools.

mod vcf_bcftools;
