//! `io::vcf` cross-checked with bcftools/tabix: files compressed and indexed by htslib itself
//! must give the same sites, alleles, IDs and dosages as `bcftools query`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use bsbslmm::io::vcf::{GenotypeField, QueryStats, Site, VcfError, VcfReader};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vcf/genotypes.vcf");

/// Runs an htslib tool and returns its stdout; panics with a clear message if the tool is
/// missing or fails.
pub fn run_tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}): these tests need htslib's bcftools, tabix and bgzip on PATH")
    });
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

fn is_biallelic_variant(alt: &str) -> bool {
    !(alt == "."
        || alt.contains(',')
        || alt == "*"
        || alt.starts_with('<')
        || alt.contains(['[', ']']))
}

fn gt_to_dosage(gt: &str) -> f32 {
    let mut alt = 0.0;
    for allele in gt.split(['/', '|']) {
        match allele {
            "." => return f32::NAN,
            "0" => {}
            "1" => alt += 1.0,
            other => panic!("unexpected allele {other:?} in bcftools GT {gt:?}"),
        }
    }
    alt
}

fn ds_to_dosage(ds: &str) -> f32 {
    if ds == "." {
        f32::NAN
    } else {
        ds.parse()
            .unwrap_or_else(|_| panic!("bcftools printed a non-numeric DS {ds:?}"))
    }
}

/// `bcftools query --regions-overlap 0 -r REGION ARGS FILE` (records whose POS is in REGION).
fn bcftools_query(path: &Path, region: &str, args: &[&str]) -> String {
    let path = path.to_str().expect("UTF-8 path");
    let mut all = vec!["query", "--regions-overlap", "0", "-r", region];
    all.extend_from_slice(args);
    all.push(path);
    run_tool("bcftools", &all)
}

/// `bcftools query` over a region (POS inside the region), for biallelic non-symbolic sites:
/// one row per site with `(POS, per-sample columns)` in the order of `samples`.
fn bcftools_rows(
    path: &Path,
    region: &str,
    samples: &[&str],
    format: &str,
) -> Vec<(u64, Vec<String>)> {
    let samples = samples.join(",");
    let fmt = format!("%POS\t%ALT[\t{format}]\n");
    let out = bcftools_query(path, region, &["-s", &samples, "-f", &fmt]);
    out.lines()
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let pos: u64 = cols.next().unwrap().parse().unwrap();
            let alt = cols.next().unwrap();
            is_biallelic_variant(alt).then(|| (pos, cols.map(str::to_owned).collect()))
        })
        .collect()
}

/// ALT dosages from `bcftools query -r REGION -s SAMPLES -f '[%GT ]'` for the biallelic,
/// non-symbolic sites whose POS lies in `region`, as `(POS, dosage per sample in the order of
/// `samples`)`; NaN where any allele of a call is missing. Reusable to cross-check simulated
/// files.
pub fn bcftools_dosages(path: &Path, region: &str, samples: &[&str]) -> Vec<(u64, Vec<f32>)> {
    bcftools_rows(path, region, samples, "%GT")
        .into_iter()
        .map(|(pos, gts)| (pos, gts.iter().map(|g| gt_to_dosage(g)).collect()))
        .collect()
}

/// Like [`bcftools_dosages`] but reading `FORMAT/DS` (NaN where `.`).
pub fn bcftools_ds(path: &Path, region: &str, samples: &[&str]) -> Vec<(u64, Vec<f32>)> {
    bcftools_rows(path, region, samples, "%DS")
        .into_iter()
        .map(|(pos, ds)| (pos, ds.iter().map(|d| ds_to_dosage(d)).collect()))
        .collect()
}

/// `(CHROM, POS, ID, REF, ALT)` from bcftools for the biallelic non-symbolic sites in `region`.
fn bcftools_sites(path: &Path, region: &str) -> Vec<(String, u64, String, String, String)> {
    let out = bcftools_query(path, region, &["-f", "%CHROM %POS %ID %REF %ALT\n"]);
    out.lines()
        .map(|l| {
            let c: Vec<&str> = l.split(' ').collect();
            (
                c[0].to_owned(),
                c[1].parse().unwrap(),
                c[2].to_owned(),
                c[3].to_owned(),
                c[4].to_owned(),
            )
        })
        .filter(|s| is_biallelic_variant(&s.4))
        .collect()
}

fn count_records(path: &Path, region: &str, filter: &str) -> usize {
    bcftools_query(path, region, &["-i", filter, "-f", "%POS\n"])
        .lines()
        .count()
}

fn same(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-6
}

fn assert_dosages(ours: &[Site], expected: &[(u64, Vec<f32>)], what: &str) {
    let ours: Vec<(u64, &[f32])> = ours.iter().map(|s| (s.pos, s.dosage.as_slice())).collect();
    assert_eq!(
        ours.iter().map(|s| s.0).collect::<Vec<_>>(),
        expected.iter().map(|s| s.0).collect::<Vec<_>>(),
        "{what}: positions differ from bcftools"
    );
    for ((pos, d), (_, e)) in ours.iter().zip(expected) {
        assert_eq!(d.len(), e.len(), "{what} at {pos}: sample count");
        for (i, (x, y)) in d.iter().zip(e).enumerate() {
            assert!(
                same(*x, *y),
                "{what} at {pos}, sample slot {i}: ours {x}, bcftools {y}"
            );
        }
    }
}

struct Compressed {
    _dir: tempfile::TempDir,
    tbi: PathBuf,
    csi: PathBuf,
}

/// Compresses the fixture with `bcftools view -Oz`, then indexes one copy with `tabix -p vcf`
/// and another with `bcftools index -c`.
fn compress_fixture() -> Compressed {
    let dir = tempfile::tempdir().unwrap();
    let tbi = dir.path().join("tbi.vcf.gz");
    let csi = dir.path().join("csi.vcf.gz");
    for out in [&tbi, &csi] {
        run_tool(
            "bcftools",
            &["view", "-Oz", "-o", out.to_str().unwrap(), FIXTURE],
        );
    }
    run_tool("tabix", &["-p", "vcf", tbi.to_str().unwrap()]);
    run_tool("bcftools", &["index", "-c", csi.to_str().unwrap()]);
    assert!(Path::new(&format!("{}.tbi", tbi.display())).exists());
    assert!(Path::new(&format!("{}.csi", csi.display())).exists());
    Compressed {
        _dir: dir,
        tbi,
        csi,
    }
}

const REGIONS: [(&str, u64, u64); 7] = [
    ("chr1", 1, 100_000),
    ("chr1", 1500, 3100),
    // Starts inside the deletion at chr1:3814 (REF spans 3814-3824): the deletion overlaps but
    // its POS is outside, so it must not be returned.
    ("chr1", 3815, 5000),
    ("chr1", 2006, 2006),
    ("chr1", 1, 900),
    ("chr2", 1, 100_000),
    ("chr2", 6000, 9500),
];

const SUBSET: [&str; 6] = ["S07", "S02", "S05", "S01", "S08", "S04"];

fn indices(reader: &VcfReader, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| reader.samples().iter().position(|s| s == n).unwrap())
        .collect()
}

#[test]
fn gt_and_ds_match_bcftools_query_with_tbi_and_csi() {
    let files = compress_fixture();
    let listed = run_tool("bcftools", &["query", "-l", files.tbi.to_str().unwrap()]);
    for path in [&files.tbi, &files.csi] {
        let mut reader = VcfReader::open(path).unwrap();
        assert_eq!(reader.path(), path.as_path());
        assert_eq!(reader.samples(), listed.lines().collect::<Vec<_>>());
        assert_eq!(reader.contigs(), vec!["chr1", "chr2"]);
        assert!(reader.has_contig("chr2"));
        assert!(!reader.has_contig("chr3"));
        let subset = indices(&reader, &SUBSET);
        let mut stats = QueryStats::default();
        for (chrom, start, end) in REGIONS {
            let region = format!("{chrom}:{start}-{end}");
            let what = format!("{} {region}", path.display());

            let gt = reader
                .query(chrom, start, end, GenotypeField::Gt, &subset, &mut stats)
                .unwrap();
            assert_dosages(
                &gt,
                &bcftools_dosages(path, &region, &SUBSET),
                &format!("GT {what}"),
            );

            let ds = reader
                .query(chrom, start, end, GenotypeField::Ds, &subset, &mut stats)
                .unwrap();
            assert_dosages(
                &ds,
                &bcftools_ds(path, &region, &SUBSET),
                &format!("DS {what}"),
            );

            let sites: Vec<_> = gt
                .iter()
                .map(|s| {
                    (
                        s.chrom.clone(),
                        s.pos,
                        s.id.clone(),
                        s.ref_allele.clone(),
                        s.alt_allele.clone(),
                    )
                })
                .collect();
            let expected: Vec<_> = bcftools_sites(path, &region)
                .into_iter()
                .map(|(c, p, id, r, a)| {
                    let id = if id == "." {
                        format!("{c}:{p}:{r}:{a}")
                    } else {
                        id
                    };
                    (c, p, id, r, a)
                })
                .collect();
            assert_eq!(sites, expected, "sites of {what}");
        }

        let mut expected = QueryStats::default();
        for (chrom, start, end) in REGIONS {
            let region = format!("{chrom}:{start}-{end}");
            let records = count_records(path, &region, "1=1");
            let multi = count_records(path, &region, "N_ALT>1");
            let mono = count_records(path, &region, "ALT=\".\" || ALT~\"^<\"");
            let gt = bcftools_dosages(path, &region, &SUBSET);
            let ds = bcftools_ds(path, &region, &SUBSET);
            let nan = |rows: &[(u64, Vec<f32>)]| {
                rows.iter()
                    .flat_map(|r| &r.1)
                    .filter(|x| x.is_nan())
                    .count()
            };
            expected.queries += 2;
            expected.records += 2 * records;
            expected.multiallelic += 2 * multi;
            expected.monomorphic += 2 * mono;
            expected.kept += gt.len() + ds.len();
            expected.missing_calls += nan(&gt) + nan(&ds);
        }
        assert_eq!(stats, expected, "stats of {}", path.display());
        assert!(stats.multiallelic > 0 && stats.monomorphic > 0 && stats.missing_calls > 0);
    }
}

/// Hand-written expectations for the special records of the fixture, independent of bcftools.
#[test]
fn haploid_half_missing_and_dropped_fields_by_hand() {
    let files = compress_fixture();
    let mut reader = VcfReader::open(&files.tbi).unwrap();
    let all: Vec<usize> = (0..8).collect();
    let mut stats = QueryStats::default();
    let nan = f32::NAN;

    // chr1:3046  GT: 1 0 . 1|1 0/1 1 0|0 0
    let site = reader
        .query("chr1", 3046, 3046, GenotypeField::Gt, &all, &mut stats)
        .unwrap();
    assert_eq!(site.len(), 1);
    let expected = [1.0, 0.0, nan, 2.0, 1.0, 1.0, 0.0, 0.0];
    for (x, y) in site[0].dosage.iter().zip(expected) {
        assert!(same(*x, y), "{:?} vs {expected:?}", site[0].dosage);
    }
    assert_eq!(stats.missing_calls, 1);

    // chr2:6344  0/1  1|1:1.800  .  0/0:0.100  1/0:1.000  0|1  ./.:.  1/1:2.000
    let ds = reader
        .query(
            "chr2",
            6344,
            6344,
            GenotypeField::Ds,
            &[7, 0, 1, 2],
            &mut stats,
        )
        .unwrap();
    let expected = [2.0, nan, 1.8, nan];
    for (x, y) in ds[0].dosage.iter().zip(expected) {
        assert!(same(*x, y), "{:?} vs {expected:?}", ds[0].dosage);
    }
    let gt = reader
        .query("chr2", 6344, 6344, GenotypeField::Gt, &all, &mut stats)
        .unwrap();
    let expected = [1.0, 2.0, nan, 0.0, 1.0, 1.0, nan, 2.0];
    for (x, y) in gt[0].dosage.iter().zip(expected) {
        assert!(same(*x, y), "{:?} vs {expected:?}", gt[0].dosage);
    }
    assert_eq!(gt[0].id, "rs124");

    // chr1:1269 has ID "." and alleles A>T; the same sample may be requested twice.
    let site = reader
        .query(
            "chr1",
            1269,
            1269,
            GenotypeField::Gt,
            &[1, 1, 6],
            &mut stats,
        )
        .unwrap();
    assert_eq!(site[0].id, "chr1:1269:A:T");
    assert!(same(site[0].dosage[0], 2.0) && same(site[0].dosage[1], 2.0));
    assert!(site[0].dosage[2].is_nan());
}

#[test]
fn unknown_contig_lists_available() {
    let files = compress_fixture();
    let mut reader = VcfReader::open(&files.csi).unwrap();
    let err = reader
        .query(
            "chrZ",
            1,
            10,
            GenotypeField::Gt,
            &[0],
            &mut QueryStats::default(),
        )
        .unwrap_err();
    assert!(matches!(err, VcfError::UnknownContig { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("chrZ") && msg.contains("chr1, chr2") && msg.contains("csi.vcf.gz"),
        "{msg}"
    );
}

#[test]
fn reader_matches_bcftools_on_simulated_vcfs() {
    let cohort = crate::common::small_cohort();
    for chrom in ["chr1", "chr2"] {
        let path = cohort.join(format!("genotypes/{chrom}.vcf.gz"));
        let listed = run_tool("tabix", &["-l", path.to_str().unwrap()]);
        assert_eq!(listed.trim(), chrom, "tabix -l must list the contig");
        let mut reader = VcfReader::open(&path).unwrap();
        let names = [
            "SIM0097", "SIM0003", "SIM0050", "SIM0120", "SIM0001", "SIM0064",
        ];
        let idx = indices(&reader, &names);
        for (start, end) in [(1u64, 30_000u64), (250_000, 400_000), (600_000, 620_000)] {
            let region = format!("{chrom}:{start}-{end}");
            let mut stats = QueryStats::default();
            let ours = reader
                .query(chrom, start, end, GenotypeField::Gt, &idx, &mut stats)
                .unwrap();
            let expected = bcftools_dosages(&path, &region, &names);
            assert!(!expected.is_empty(), "{region}: no records");
            assert_dosages(&ours, &expected, &format!("simulated {region}"));
        }
    }
}
