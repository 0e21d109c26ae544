use std::path::Path;

use super::*;

const GOOD: &str = "\
output_dir: out
seed: 7
chromosomes: [chr1, chr2]
inputs:
  vcf: geno/{chrom}.vcf.gz
  expression: expr.bed.gz
  genes: genes.gtf
  covariates: cov.tsv
cis:
  window_bp: 100000
";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(text, Path::new("/tmp/p/pipeline.yaml"))
}

#[test]
fn good_config_resolves_with_defaults() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.seed, 7);
    assert_eq!(c.cis_window_bp, 100_000);
    assert_eq!(c.output_dir, Path::new("/tmp/p/out"));
    assert_eq!(
        c.inputs.vcf_for("chr2"),
        Path::new("/tmp/p/geno/chr2.vcf.gz")
    );
    assert_eq!(c.qc.min_maf, 0.01);
    assert_eq!(c.qc.max_missing, 0.10);
    assert_eq!(c.qc.min_mac, 5.0);
    assert_eq!(c.blocks.max_size, 100);
    assert_eq!(c.blocks.ld_window, 20);
    assert!(c.blocks.tau.is_none());
    assert!(matches!(c.cv, Cv::Kfold { folds: 5 }));
    assert_eq!(c.methods.len(), 6);
    assert_eq!(c.methods[2].name, "bsbslmm");
    let yaml = c.to_yaml();
    assert!(yaml.contains("cis_window_bp: 100000"), "{yaml}");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = GOOD.replace("cis:\n  window_bp", "cis:\n  windw_bp");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("windw_bp"), "{e}");
    assert!(e.contains("line 10"), "{e}");
    assert!(e.contains("window_bp"), "expected keys listed: {e}");
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let text = GOOD.replace("seed: 7", "seed: seven");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("seed"), "{e}");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn malformed_yaml_names_the_line() {
    let text = GOOD.replace("  genes: genes.gtf", "  genes: [genes.gtf");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("pipeline.yaml"), "{e}");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn negative_window_is_refused_with_key_and_line() {
    let text = GOOD.replace("window_bp: 100000", "window_bp: -5");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("cis.window_bp (line 10)"), "{e}");
    assert!(e.contains("-5"), "{e}");
}

#[test]
fn all_impossible_values_are_reported_together() {
    let text = format!("{GOOD}qc:\n  min_maf: 0.7\n  max_missing: 1.5\ncv:\n  folds: 1\n");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("qc.min_maf (line 12)"), "{e}");
    assert!(e.contains("qc.max_missing (line 13)"), "{e}");
    assert!(e.contains("cv.folds (line 15)"), "{e}");
}

#[test]
fn missing_pattern_placeholder_is_refused() {
    let text = GOOD.replace("geno/{chrom}.vcf.gz", "geno/all.vcf.gz");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.contains("inputs.vcf (line 5)"), "{e}");
}

#[test]
fn missing_inputs_are_listed_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("genes.gtf"), "").unwrap();
    let c = Config::from_yaml(GOOD, &dir.path().join("pipeline.yaml")).unwrap();
    let e = c.check_inputs().unwrap_err().to_string();
    assert!(e.contains("4 input file(s) not found"), "{e}");
    for want in ["chr1.vcf.gz", "chr2.vcf.gz", "expr.bed.gz", "cov.tsv"] {
        assert!(e.contains(want), "{want} missing from: {e}");
    }
    assert!(!e.contains("genes.gtf"), "{e}");
}

#[test]
fn export_and_twas_defaults_and_validation() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.export.genes, ExportGenes::All);
    assert_eq!((c.export.min_r, c.export.max_pval), (0.1, 0.05));
    assert_eq!((c.export.prune_min_r, c.export.max_snps), (0.99, 200));
    assert_eq!(c.twas.methods.len(), 6, "default: every configured method");
    let text = format!(
        "{GOOD}export:\n  genes: passing\n  prune_min_r: 0\n  max_snps: 0\ntwas:\n  methods: [bsbslmm, nope]\n"
    );
    let e = parse(&text).unwrap_err().to_string();
    assert!(
        e.contains("export.prune_min_r") && e.contains("got 0"),
        "{e}"
    );
    assert!(e.contains("export.max_snps"), "{e}");
    assert!(
        e.contains("twas.methods") && e.contains("`nope` is not a configured method"),
        "{e}"
    );
    let ok = parse(&format!("{GOOD}twas:\n  methods: [enet]\n")).unwrap();
    assert_eq!(ok.twas.methods, ["enet"]);
}
