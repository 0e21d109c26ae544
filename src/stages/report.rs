//! The `report` stage: one self-contained `report.html` (inline SVG drawn with plotters, no
//! external resources) built from the finalize tables (`final/genes.tsv`, `compare.tsv`,
//! `passing.tsv`, `enrich.tsv`) and, when it exists, the twas table (`twas/twas.tsv`). It reads
//! only those text files, so it can be rerun alone with `--stage report`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use thiserror::Error;
use tracing::info;

use crate::config::Config;
use crate::io::store;
use crate::io::tsv::{Table, TsvError};
use crate::stages::finalize::aggregate::SummaryRow;
use crate::stages::finalize::{self, compare, enrich, FinalizeError};
use crate::stages::StageOutcome;

/// Columns of `twas/twas.tsv` the report reads.
pub const TWAS_COLUMNS: [&str; 7] = ["method", "gene_id", "gene_name", "chrom", "tss", "z", "p"];

/// Errors of the report stage.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A finalize output the report needs does not exist.
    #[error("{path}: not found; run `bsbslmm run PIPELINE --stage finalize` first")]
    MissingInput { path: PathBuf },
    #[error(transparent)]
    Finalize(#[from] FinalizeError),
    #[error(transparent)]
    Tsv(#[from] TsvError),
    /// plotters failed to draw a plot.
    #[error("drawing the plot `{plot}`: {message}")]
    Plot { plot: String, message: String },
    /// Writing the report failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One row of the twas table.
#[derive(Debug, Clone)]
pub struct TwasRow {
    pub method: String,
    pub gene_id: String,
    pub gene_name: String,
    pub chrom: String,
    pub tss: u64,
    pub z: f64,
    pub p: f64,
}

/// Reads `twas.tsv` (rows with a non-numeric p, e.g. genes not tested, keep p = NaN).
pub fn read_twas(path: &Path) -> Result<Vec<TwasRow>, TsvError> {
    let t = Table::read(path, &TWAS_COLUMNS)?;
    t.rows()
        .map(|r| {
            Ok(TwasRow {
                method: r.str("method")?.to_string(),
                gene_id: r.str("gene_id")?.to_string(),
                gene_name: r.str("gene_name")?.to_string(),
                chrom: r.str("chrom")?.to_string(),
                tss: r.u64("tss")?,
                z: r.f64("z")?,
                p: r.f64("p")?,
            })
        })
        .collect()
}

/// What the report is built from.
pub struct ReportInputs {
    pub genes: Vec<SummaryRow>,
    pub compare: Table,
    pub passing: Table,
    pub enrich: Table,
    pub twas: Option<Vec<TwasRow>>,
}

fn need(path: PathBuf) -> Result<PathBuf, ReportError> {
    if path.exists() {
        Ok(path)
    } else {
        Err(ReportError::MissingInput { path })
    }
}

/// Reads the finalize tables (and the twas table, if present).
pub fn read_inputs(config: &Config) -> Result<ReportInputs, ReportError> {
    let dir = config.final_dir();
    let genes = finalize::read_summary(&need(dir.join("genes.tsv"))?)?;
    let compare = Table::read(&need(dir.join("compare.tsv"))?, &compare::COMPARE_COLUMNS)?;
    let passing = Table::read(&need(dir.join("passing.tsv"))?, &compare::PASSING_COLUMNS)?;
    let enrich = Table::read(&need(dir.join("enrich.tsv"))?, &enrich::ENRICH_COLUMNS)?;
    let twas_path = config.twas_path();
    let twas = if twas_path.exists() {
        Some(read_twas(&twas_path)?)
    } else {
        None
    };
    Ok(ReportInputs {
        genes,
        compare,
        passing,
        enrich,
        twas,
    })
}

/// Writes `report.html`.
pub fn run(config: &Config) -> Result<StageOutcome, ReportError> {
    let inputs = read_inputs(config)?;
    let html = render(config, &inputs)?;
    let path = config.report_path();
    store::write_text_atomic(&path, &html).map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })?;
    info!(
        "report: {} ({} KB, {} plots)",
        path.display(),
        html.len() / 1024,
        html.matches("<svg").count()
    );
    Ok(StageOutcome {
        done: 1,
        ..StageOutcome::default()
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plotters error as a [`ReportError`].
fn plot_err<E: std::fmt::Display>(plot: &str) -> impl Fn(E) -> ReportError + '_ {
    move |e| ReportError::Plot {
        plot: plot.to_string(),
        message: e.to_string(),
    }
}

const W: u32 = 720;
const H: u32 = 420;
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// A padded range covering `values` (and `extra`), never empty.
fn range(values: impl Iterator<Item = f64>, extra: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values
        .chain(extra.iter().copied())
        .filter(|v| v.is_finite())
    {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(1e-3);
    (lo - pad, hi + pad)
}

/// Per-gene Δr for each compared pair, by chromosome: one column of points per (chromosome,
/// pair), the median as a bar.
fn plot_delta_r(
    genes: &[SummaryRow],
    pairs: &[(String, String)],
    chroms: &[String],
) -> Result<String, ReportError> {
    let name = "per-chromosome delta r";
    let r_of = compare::test_r_index(genes);
    let np = pairs.len().max(1) as f64;
    let mut pts: Vec<(usize, f64, f64)> = Vec::new();
    let mut medians: Vec<(usize, f64, f64)> = Vec::new();
    for (k, chrom) in chroms.iter().enumerate() {
        for (j, (a, b)) in pairs.iter().enumerate() {
            let x0 = k as f64 + (j as f64 + 0.5) / np * 0.8 + 0.1;
            let mut d: Vec<f64> = genes
                .iter()
                .filter(|r| &r.chrom == chrom && &r.method == a)
                .filter_map(|r| {
                    let ra = r_of.get(&(chrom.as_str(), r.gene_id.as_str(), a.as_str()))?;
                    let rb = r_of.get(&(chrom.as_str(), r.gene_id.as_str(), b.as_str()))?;
                    Some(ra - rb)
                })
                .collect();
            for (i, v) in d.iter().enumerate() {
                let jitter = ((i * 7919) % 97) as f64 / 97.0 - 0.5;
                pts.push((j, x0 + jitter * 0.5 / np, *v));
            }
            if !d.is_empty() {
                d.sort_by(f64::total_cmp);
                let m = d[d.len() / 2] * 0.5 + d[(d.len() - 1) / 2] * 0.5;
                medians.push((j, x0, m));
            }
        }
    }
    let (y0, y1) = range(pts.iter().map(|p| p.2), &[0.0]);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err(name))?;
        let nc = chroms.len().max(1) as f64;
        let mut chart = chrom_panels(
            &root,
            "Per-gene Δr = r(a) − r(b) by chromosome",
            chroms,
            y0..y1,
            "Δ test r",
        )
        .map_err(plot_err(name))?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (nc, 0.0)], BLACK.mix(0.6)))
            .map_err(plot_err(name))?;
        for (j, (a, b)) in pairs.iter().enumerate() {
            let c = PALETTE[j % PALETTE.len()];
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| p.0 == j)
                        .map(|p| Circle::new((p.1, p.2), 2, c.mix(0.7).filled())),
                )
                .map_err(plot_err(name))?
                .label(format!("{a} − {b}"))
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
            chart
                .draw_series(medians.iter().filter(|m| m.0 == j).map(|m| {
                    PathElement::new(
                        vec![(m.1 - 0.3 / np, m.2), (m.1 + 0.3 / np, m.2)],
                        c.stroke_width(3),
                    )
                }))
                .map_err(plot_err(name))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err(name))?;
        root.present().map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// Scatter of per-gene test r, method `a` (y) against method `b` (x), with the diagonal.
fn plot_scatter(genes: &[SummaryRow], a: &str, b: &str) -> Result<String, ReportError> {
    let name = "scatter";
    let by: HashMap<(&str, &str), f64> = genes
        .iter()
        .filter(|r| r.method == b && r.status == "ok" && r.test_r.is_finite())
        .map(|r| ((r.chrom.as_str(), r.gene_id.as_str()), r.test_r))
        .collect();
    let pts: Vec<(f64, f64)> = genes
        .iter()
        .filter(|r| r.method == a && r.status == "ok" && r.test_r.is_finite())
        .filter_map(|r| {
            by.get(&(r.chrom.as_str(), r.gene_id.as_str()))
                .map(|&x| (x, r.test_r))
        })
        .collect();
    let (lo, hi) = range(pts.iter().flat_map(|p| [p.0, p.1]), &[0.0]);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (560, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err(name))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Per-gene test r: {a} vs {b} ({} genes)", pts.len()),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(plot_err(name))?;
        chart
            .configure_mesh()
            .x_desc(format!("{b} test r"))
            .y_desc(format!("{a} test r"))
            .draw()
            .map_err(plot_err(name))?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.5)))
            .map_err(plot_err(name))?;
        chart
            .draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, PALETTE[0].mix(0.7).filled())),
            )
            .map_err(plot_err(name))?;
        root.present().map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// One estimate with its interval, for the forest plot.
struct Forest {
    label: String,
    est: f64,
    lo: f64,
    hi: f64,
    highlight: bool,
}

/// Forest plot of fold enrichment (one row per method and the truth) with 95% intervals.
fn plot_forest(
    rows: &[Forest],
    title: &str,
    xdesc: &str,
    null: f64,
) -> Result<String, ReportError> {
    let name = "forest";
    let (x0, x1) = range(rows.iter().flat_map(|r| [r.est, r.lo, r.hi]), &[null]);
    let n = rows.len().max(1) as f64;
    let mut buf = String::new();
    {
        let h = 90 + 34 * rows.len() as u32;
        let root = SVGBackend::with_string(&mut buf, (W, h.max(200))).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err(name))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(170)
            .build_cartesian_2d(x0..x1, -0.5..(n - 0.5))
            .map_err(plot_err(name))?;
        let label = |y: &f64| {
            let k = y.round();
            if (y - k).abs() < 1e-9 && k >= 0.0 {
                rows.get((n - 1.0 - k) as usize)
                    .map(|r| r.label.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len().max(1))
            .y_label_formatter(&label)
            .x_desc(xdesc)
            .draw()
            .map_err(plot_err(name))?;
        chart
            .draw_series(LineSeries::new(
                [(null, -0.5), (null, n - 0.5)],
                BLACK.mix(0.5),
            ))
            .map_err(plot_err(name))?;
        for (i, r) in rows.iter().enumerate() {
            let y = n - 1.0 - i as f64;
            let c = if r.highlight { PALETTE[3] } else { PALETTE[0] };
            if r.lo.is_finite() && r.hi.is_finite() {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(r.lo, y), (r.hi, y)],
                        c.stroke_width(2),
                    )))
                    .map_err(plot_err(name))?;
            }
            if r.est.is_finite() {
                chart
                    .draw_series(std::iter::once(Circle::new((r.est, y), 5, c.filled())))
                    .map_err(plot_err(name))?;
            }
        }
        root.present().map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// Bar chart of the genes passing the filter per method.
fn plot_passing(bars: &[(String, f64, f64)]) -> Result<String, ReportError> {
    let name = "passing";
    let n = bars.len().max(1) as f64;
    let top = bars.iter().map(|b| b.2).fold(1.0, f64::max) * 1.1;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err(name))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Genes passing the filter (dark) of genes fitted (light)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..n, 0.0..top)
            .map_err(plot_err(name))?;
        let label = |x: &f64| {
            let k = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-9 {
                bars.get(k).map(|b| b.0.clone()).unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * bars.len() + 1)
            .x_label_formatter(&label)
            .y_desc("genes")
            .draw()
            .map_err(plot_err(name))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Rectangle::new(
                    [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, b.2)],
                    PALETTE[0].mix(0.25).filled(),
                )
            }))
            .map_err(plot_err(name))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Rectangle::new(
                    [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, b.1)],
                    PALETTE[0].filled(),
                )
            }))
            .map_err(plot_err(name))?;
        root.present().map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// Manhattan plot of one method's TWAS p-values, chromosomes side by side, with the Bonferroni
/// line at 0.05 / genes.
fn plot_manhattan(
    rows: &[&TwasRow],
    chroms: &[String],
    method: &str,
) -> Result<String, ReportError> {
    let name = "manhattan";
    let mut max_tss: HashMap<&str, u64> = HashMap::new();
    for r in rows {
        let e = max_tss.entry(r.chrom.as_str()).or_insert(1);
        *e = (*e).max(r.tss + 1);
    }
    let pts: Vec<(usize, f64, f64)> = rows
        .iter()
        .filter(|r| r.p.is_finite() && r.p > 0.0)
        .filter_map(|r| {
            let k = chroms.iter().position(|c| *c == r.chrom)?;
            let x = k as f64 + 0.05 + 0.9 * r.tss as f64 / max_tss[r.chrom.as_str()] as f64;
            Some((k, x, -r.p.log10()))
        })
        .collect();
    let bonf = -(0.05 / pts.len().max(1) as f64).log10();
    let top = pts.iter().map(|p| p.2).fold(bonf, f64::max) * 1.08;
    let nc = chroms.len().max(1) as f64;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err(name))?;
        let mut chart = chrom_panels(
            &root,
            &format!("TWAS Manhattan plot ({method}, {} genes)", pts.len()),
            chroms,
            0.0..top,
            "−log10 p",
        )
        .map_err(plot_err(name))?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, bonf), (nc, bonf)],
                PALETTE[3].mix(0.7),
            ))
            .map_err(plot_err(name))?;
        chart
            .draw_series(pts.iter().map(|&(k, x, y)| {
                let c = if k % 2 == 0 { PALETTE[0] } else { PALETTE[7] };
                Circle::new((x, y), 3, c.filled())
            }))
            .map_err(plot_err(name))?;
        root.present().map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// QQ plot of TWAS p-values, one series per method, against the uniform expectation.
fn plot_qq(by_method: &[(String, Vec<f64>)]) -> Result<String, ReportError> {
    let name = "qq";
    let series: Vec<(String, Vec<(f64, f64)>)> = by_method
        .iter()
        .map(|(m, ps)| {
            let mut p: Vec<f64> = ps
                .iter()
                .copied()
                .filter(|p| p.is_finite() && *p > 0.0)
                .collect();
            p.sort_by(f64::total_cmp);
            let n = p.len() as f64;
            let pts = p
                .iter()
                .enumerate()
                .map(|(i, &v)| (-((i as f64 + 0.5) / n).log10(), -v.log10()))
                .collect();
            (m.clone(), pts)
        })
        .collect();
    let (_, ymax) = range(
        series.iter().flat_map(|s| s.1.iter().map(|p| p.1)),
        &[0.0, 1.0],
    );
    let (_, xmax) = range(
        series.iter().flat_map(|s| s.1.iter().map(|p| p.0)),
        &[0.0, 1.0],
    );
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (560, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err(name))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("TWAS QQ plot", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..xmax, 0.0..ymax)
            .map_err(plot_err(name))?;
        chart
            .configure_mesh()
            .x_desc("expected −log10 p")
            .y_desc("observed −log10 p")
            .draw()
            .map_err(plot_err(name))?;
        let m = xmax.min(ymax);
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (m, m)], BLACK.mix(0.5)))
            .map_err(plot_err(name))?;
        for (j, (method, pts)) in series.iter().enumerate() {
            let c = PALETTE[j % PALETTE.len()];
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.filled())))
                .map_err(plot_err(name))?
                .label(method.clone())
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err(name))?;
        root.present().map_err(plot_err(name))?;
    }
    Ok(buf)
}

/// An HTML table of a TSV table (all columns, or the given ones).
fn html_table(t: &Table, columns: &[&str]) -> Result<String, ReportError> {
    let mut s = String::from("<table><thead><tr>");
    for c in columns {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr></thead><tbody>");
    for r in t.rows() {
        s.push_str("<tr>");
        for c in columns {
            let v = r.str(c)?;
            let shown = match v.parse::<f64>() {
                Ok(x) if v.contains('.') || v.contains('e') => format_num(x),
                _ => v.to_string(),
            };
            let _ = write!(s, "<td>{}</td>", esc(&shown));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    Ok(s)
}

fn format_num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}.note{color:#666}
figure{margin:1em 0}svg{max-width:100%;height:auto}";

/// Builds the HTML text of the report.
pub fn render(config: &Config, inp: &ReportInputs) -> Result<String, ReportError> {
    let methods: Vec<String> = config.methods.iter().map(|m| m.name.clone()).collect();
    let chroms: Vec<String> = config
        .chromosomes
        .iter()
        .filter(|c| inp.genes.iter().any(|r| &r.chrom == *c))
        .cloned()
        .collect();
    let pairs = compare::active_pairs(&config.compare, &methods);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>bsbslmm report</title><style>{STYLE}</style></head><body>\n<h1>bsbslmm report</h1>\n<p class=\"note\">Pipeline {} · {} chromosome(s) · {} gene×method rows · bsbslmm {}</p>\n",
        esc(&config.source.display().to_string()),
        chroms.len(),
        inp.genes.len(),
        env!("CARGO_PKG_VERSION")
    );

    h.push_str("<h2 id=\"compare\">Prediction accuracy: paired comparisons</h2>\n");
    h.push_str("<p>One-sided paired Wilcoxon signed-rank tests on per-gene pooled held-out r (alternative: method a predicts better), on the genes both methods fitted.</p>\n");
    h.push_str(&html_table(
        &inp.compare,
        &[
            "scope",
            "method_a",
            "method_b",
            "n",
            "n_a_better",
            "mean_dr",
            "median_dr",
            "t_plus",
            "z",
            "p",
            "test",
        ],
    )?);
    if pairs.is_empty() {
        h.push_str("<p class=\"note\">No configured pair has both methods configured.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<figure>{}</figure>",
            plot_delta_r(&inp.genes, &pairs, &chroms)?
        );
    }
    let (sa, sb) = ("bsbslmm", "bslmm");
    if methods.iter().any(|m| m == sa) && methods.iter().any(|m| m == sb) {
        h.push_str("<h2 id=\"scatter\">bsBSLMM vs BSLMM test r</h2>\n");
        let _ = writeln!(h, "<figure>{}</figure>", plot_scatter(&inp.genes, sa, sb)?);
    } else if let Some((a, b)) = pairs.first() {
        let _ = writeln!(h, "<h2 id=\"scatter\">{} vs {} test r</h2>", esc(a), esc(b));
        let _ = writeln!(h, "<figure>{}</figure>", plot_scatter(&inp.genes, a, b)?);
    }

    h.push_str("<h2 id=\"enrich\">Enrichment of active SNPs in DNase peaks</h2>\n");
    h.push_str("<p>Fold enrichment of active SNPs (95% posterior interval excludes 0; baselines: non-zero weight) inside peaks relative to all tested cis SNPs, with 95% gene-bootstrap intervals; the truth row uses the simulation's causal SNPs. Reference method and truth in red.</p>\n");
    let mut forest = Vec::new();
    let mut diffs = Vec::new();
    for r in inp.enrich.rows() {
        let f = |c: &str| r.f64(c);
        let item = Forest {
            label: String::new(),
            est: f("estimate")?,
            lo: f("ci_lo")?,
            hi: f("ci_hi")?,
            highlight: false,
        };
        let (row, m, v) = (r.str("row")?, r.str("method")?, r.str("versus")?);
        if row == "fold" {
            forest.push(Forest {
                label: m.to_string(),
                highlight: m == config.enrich.reference || m == enrich::TRUTH,
                ..item
            });
        } else {
            diffs.push(Forest {
                label: format!("{m} − {v}"),
                highlight: v == enrich::TRUTH,
                ..item
            });
        }
    }
    // The reference method and the truth first, side by side.
    forest.sort_by_key(|r| {
        if r.label == config.enrich.reference {
            0
        } else if r.label == enrich::TRUTH {
            1
        } else {
            2
        }
    });
    let _ = writeln!(
        h,
        "<figure>{}</figure>",
        plot_forest(
            &forest,
            "Fold enrichment in peaks (95% bootstrap CI)",
            "fold enrichment",
            1.0
        )?
    );
    if !diffs.is_empty() {
        let _ = writeln!(
            h,
            "<figure>{}</figure>",
            plot_forest(
                &diffs,
                "Difference in fold enrichment (95% paired bootstrap CI)",
                "difference in fold enrichment",
                0.0
            )?
        );
    }
    let shown: Vec<&str> = enrich::ENRICH_COLUMNS
        .into_iter()
        .filter(|c| !matches!(*c, "p_binomial" | "n_boot_used"))
        .collect();
    h.push_str(&html_table(&inp.enrich, &shown)?);

    let _ = writeln!(
        h,
        "<h2 id=\"passing\">Genes passing per method</h2>\n<p>Filter: pooled test r &gt; {} and p &lt; {}.</p>",
        config.compare.min_r, config.compare.max_p
    );
    let mut bars = Vec::new();
    for r in inp.passing.rows() {
        if r.str("scope")? == "all" {
            bars.push((
                r.str("method")?.to_string(),
                r.u64("n_passing")? as f64,
                r.u64("n_fitted")? as f64,
            ));
        }
    }
    let _ = writeln!(h, "<figure>{}</figure>", plot_passing(&bars)?);
    h.push_str(&html_table(
        &inp.passing,
        &["scope", "method", "n_fitted", "n_passing", "fraction"],
    )?);

    h.push_str("<h2 id=\"twas\">TWAS</h2>\n");
    match &inp.twas {
        None => {
            let _ = writeln!(
                h,
                "<p class=\"note\">The twas stage has not run: {} does not exist.</p>",
                esc(&config.twas_path().display().to_string())
            );
        }
        Some(tw) => {
            let mut tw_methods: Vec<String> = Vec::new();
            for r in tw {
                if !tw_methods.contains(&r.method) {
                    tw_methods.push(r.method.clone());
                }
            }
            let main = if tw_methods.contains(&config.enrich.reference) {
                config.enrich.reference.clone()
            } else {
                tw_methods.first().cloned().unwrap_or_default()
            };
            let rows: Vec<&TwasRow> = tw.iter().filter(|r| r.method == main).collect();
            let mut tw_chroms = chroms.clone();
            for r in &rows {
                if !tw_chroms.contains(&r.chrom) {
                    tw_chroms.push(r.chrom.clone());
                }
            }
            let _ = writeln!(
                h,
                "<figure>{}</figure>",
                plot_manhattan(&rows, &tw_chroms, &main)?
            );
            let by_method: Vec<(String, Vec<f64>)> = tw_methods
                .iter()
                .map(|m| {
                    (
                        m.clone(),
                        tw.iter().filter(|r| &r.method == m).map(|r| r.p).collect(),
                    )
                })
                .collect();
            let _ = writeln!(h, "<figure>{}</figure>", plot_qq(&by_method)?);
            let mut top: Vec<&&TwasRow> = rows.iter().filter(|r| r.p.is_finite()).collect();
            top.sort_by(|a, b| a.p.total_cmp(&b.p));
            h.push_str("<table><thead><tr><th>rank</th><th>gene</th><th>name</th><th>chrom</th><th>z</th><th>p</th></tr></thead><tbody>");
            for (i, r) in top.iter().take(10).enumerate() {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    i + 1,
                    esc(&r.gene_id),
                    esc(&r.gene_name),
                    esc(&r.chrom),
                    format_num(r.z),
                    format_num(r.p)
                );
            }
            h.push_str("</tbody></table>\n");
        }
    }

    h.push_str("<h2 id=\"diagnostics\">Convergence warnings (R-hat / ESS)</h2>\n");
    let flagged: Vec<&SummaryRow> = inp
        .genes
        .iter()
        .filter(|r| r.status == "ok" && (r.flag_rhat != 0 || r.flag_ess != 0 || r.flag_pip != 0))
        .collect();
    let ok = inp.genes.iter().filter(|r| r.status == "ok").count();
    let _ = writeln!(
        h,
        "<p>{} of {} fitted gene×method pairs carry a flag (R̂ &gt; 1.01, bulk ESS &lt; 400, or chains disagreeing on a PIP by &gt; 0.1). Short schedules flag by design; use the default schedule for real work.</p>",
        flagged.len(),
        ok
    );
    h.push_str("<table><thead><tr><th>method</th><th>genes flagged</th><th>R̂</th><th>ESS</th><th>PIP</th></tr></thead><tbody>");
    for m in &methods {
        let f: Vec<&&SummaryRow> = flagged.iter().filter(|r| &r.method == m).collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(m),
            f.len(),
            f.iter().filter(|r| r.flag_rhat != 0).count(),
            f.iter().filter(|r| r.flag_ess != 0).count(),
            f.iter().filter(|r| r.flag_pip != 0).count()
        );
    }
    h.push_str("</tbody></table>\n<details><summary>Flagged genes</summary><table><thead><tr><th>gene</th><th>chrom</th><th>method</th><th>max R̂</th><th>min bulk ESS</th><th>flags</th></tr></thead><tbody>");
    for r in &flagged {
        let flags: Vec<&str> = [
            (r.flag_rhat, "rhat"),
            (r.flag_ess, "ess"),
            (r.flag_pip, "pip"),
        ]
        .iter()
        .filter(|f| f.0 != 0)
        .map(|f| f.1)
        .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.gene_id),
            esc(&r.chrom),
            esc(&r.method),
            format_num(r.max_rhat),
            format_num(r.min_ess_bulk),
            flags.join(", ")
        );
    }
    h.push_str("</tbody></table></details>\n");
    let problems: Vec<&SummaryRow> = inp.genes.iter().filter(|r| r.status != "ok").collect();
    if !problems.is_empty() {
        let _ = writeln!(
            h,
            "<h2 id=\"missing\">Genes not fitted</h2>\n<p>{} gene×method rows are failed, missing or not prepared.</p><table><thead><tr><th>gene</th><th>chrom</th><th>method</th><th>status</th><th>reason</th></tr></thead><tbody>",
            problems.len()
        );
        for r in problems {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.gene_id),
                esc(&r.chrom),
                esc(&r.method),
                esc(&r.status),
                esc(&r.reason)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

type Svg<'a> = SVGBackend<'a>;
type Panels<'a, 'b> = ChartContext<
    'a,
    Svg<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A chart with one x panel per chromosome (chromosome k spans [k, k+1)), its mesh drawn.
fn chrom_panels<'a, 'b>(
    root: &'a DrawingArea<Svg<'b>, plotters::coord::Shift>,
    caption: &str,
    chroms: &[String],
    y: std::ops::Range<f64>,
    y_desc: &str,
) -> Result<Panels<'a, 'b>, DrawingAreaErrorKind<std::io::Error>> {
    let nc = chroms.len().max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..nc, y)?;
    let label = |x: &f64| chrom_tick(chroms, *x);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * chroms.len() + 1)
        .x_label_formatter(&label)
        .y_desc(y_desc)
        .draw()?;
    Ok(chart)
}

/// X-axis label of the chromosome panels: chromosome k sits at k + 0.5; other ticks are blank.
fn chrom_tick(chroms: &[String], x: f64) -> String {
    let k = x.floor() as usize;
    if (x - x.floor() - 0.5).abs() < 1e-9 {
        chroms.get(k).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}
