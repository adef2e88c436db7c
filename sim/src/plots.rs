//! PNG plots of a run: delivery latency CDF, distinct state roots and bans
//! over time, and the balance distribution.
//!
//! The font is compiled in (DejaVu Sans, `sim/assets/`): the plots must draw
//! the same on a fresh machine without fontconfig or any system font.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::report::{GI_PLOT, PLOTS, Report, SUPPLY_PLOT, Sample};
use crate::run::SimGi;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (900, 520);

fn font_registered() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "the embedded font does not parse".to_string())
        })
        .clone()
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Draws every plot of `report` into `dir`; returns the files written.
pub fn draw(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, String> {
    font_registered()?;
    let mut written = Vec::new();
    let plots: [&dyn Fn(&Path) -> PlotResult; 4] = [
        &|p| latency_cdf(p, &report.latencies_ms),
        &|p| over_time(p, &report.samples, Series::Roots),
        &|p| over_time(p, &report.samples, Series::Bans),
        &|p| balances(p, &report.measured.balances),
    ];
    for ((name, _), plot) in PLOTS.iter().zip(plots) {
        let path = dir.join(name);
        plot(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    if let Some(g) = &report.measured.gi {
        let path = dir.join(GI_PLOT.0);
        gi_per_cycle(&path, g).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    if let Some(i) = &report.measured.issuance {
        let path = dir.join(SUPPLY_PLOT.0);
        supply(&path, i).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Issuance per closed cycle: IPPC issued by mints, burned by metabolism
/// and paid into the pool (cumulative, from the chains), with a mark on
/// each cycle whose record opens the mint.
fn supply(path: &Path, i: &crate::run::SimIssuance) -> PlotResult {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let first = i.per_cycle.first().map_or(0, |c| c.cycle);
    let last = i.per_cycle.last().map_or(1, |c| c.cycle).max(first + 1);
    let top = i
        .per_cycle
        .iter()
        .map(|c| c.issued_ippc.max(c.burned_ippc).max(c.pooled_ippc))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Supply per closed cycle ({} mints, {} tranches)", i.mints, i.tranches),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0u64..last - first + 1, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("cycle since the first kept")
        .y_desc("IPPC (cumulative)")
        .draw()?;
    type Pick = fn(&crate::run::IssuanceCycle) -> f64;
    let lines: [(&str, Pick, RGBColor); 3] = [
        ("issued (mints)", |c| c.issued_ippc, GREEN),
        ("burned (metabolism)", |c| c.burned_ippc, RED),
        ("pooled (fees)", |c| c.pooled_ippc, BLUE),
    ];
    for (label, pick, colour) in lines {
        let points: Vec<(u64, f64)> = i.per_cycle.iter().map(|c| (c.cycle - first, pick(c))).collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart
        .draw_series(
            i.per_cycle
                .iter()
                .filter(|c| c.mint_open)
                .map(|c| Circle::new((c.cycle - first, 0.0), 4, BLACK.filled())),
        )?
        .label("mint open")
        .legend(|(x, y)| Circle::new((x + 9, y), 4, BLACK.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// GI per closed cycle: the lowest and the median live honest node, the
/// highest faulty node, and the 0.85 line every faulty node must fall under.
fn gi_per_cycle(path: &Path, g: &SimGi) -> PlotResult {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let first = g.per_cycle.first().map_or(0, |c| c.cycle);
    let last = g.per_cycle.last().map_or(1, |c| c.cycle).max(first + 1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "GI per closed cycle ({} cycles, {} faulty nodes)",
                g.per_cycle.len(),
                g.faulty
            ),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0u64..last - first + 1, 0.0..1.05)?;
    chart
        .configure_mesh()
        .x_desc("cycle since the first compared")
        .y_desc("GI")
        .draw()?;
    let ppm = |v: u32| f64::from(v) / 1e6;
    type Pick = fn(&crate::run::GiCycle) -> Option<u32>;
    let lines: [(&str, Pick, RGBColor); 3] = [
        ("honest lowest", |c| c.honest_min, BLUE),
        ("honest median", |c| c.honest_median, GREEN),
        ("turning faulty: highest", |c| c.faulty_max, RED),
    ];
    for (label, pick, colour) in lines {
        let points: Vec<(u64, f64)> = g
            .per_cycle
            .iter()
            .filter_map(|c| Some((c.cycle - first, ppm(pick(c)?))))
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart
        .draw_series(LineSeries::new(
            [(0, 0.85), (last - first + 1, 0.85)],
            BLACK.mix(0.4).stroke_width(1),
        ))?
        .label("0.85 (Research floor)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.4)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

fn latency_cdf(path: &Path, latencies_ms: &[f64]) -> PlotResult {
    let mut sorted: Vec<f64> = latencies_ms.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let max = sorted.last().copied().unwrap_or(1.0).max(1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Delivery latency CDF ({} transfers)", sorted.len()),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max * 1.02, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("issue → held by every live honest node of its side (ms)")
        .y_desc("fraction of transfers")
        .draw()?;
    let n = sorted.len().max(1) as f64;
    chart.draw_series(LineSeries::new(
        sorted.iter().enumerate().map(|(i, v)| (*v, (i + 1) as f64 / n)),
        BLUE.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Series {
    Roots,
    Bans,
}

fn over_time(path: &Path, samples: &[Sample], series: Series) -> PlotResult {
    let (title, y_desc, colour) = match series {
        Series::Roots => ("Distinct state roots among live honest nodes", "distinct roots", RED),
        Series::Bans => ("Peers banned by any honest node", "banned peers", MAGENTA),
    };
    let value = |s: &Sample| match series {
        Series::Roots => s.distinct_roots,
        Series::Bans => s.bans,
    };
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let end_s = samples.last().map_or(1.0, |s| s.at_ms as f64 / 1000.0).max(1.0);
    let top = samples.iter().map(value).max().unwrap_or(1).max(1) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..end_s * 1.02, 0u32..top + 1)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc(y_desc)
        .draw()?;
    // A step line: the value holds until the next sample.
    let mut points = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let t = s.at_ms as f64 / 1000.0;
        if i > 0 {
            points.push((t, value(&samples[i - 1]) as u32));
        }
        points.push((t, value(s) as u32));
    }
    chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

fn balances(path: &Path, balances: &[f64]) -> PlotResult {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let lo = balances.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = balances.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, lo.max(0.0) + 1.0)
    };
    const BINS: usize = 30;
    let width = (hi - lo) / BINS as f64;
    let mut counts = [0u32; BINS];
    for b in balances {
        let bin = (((b - lo) / width) as usize).min(BINS - 1);
        counts[bin] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Wallet balances at the end ({} wallets)", balances.len()),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(lo..hi, 0u32..top + 1)?;
    chart
        .configure_mesh()
        .x_desc("balance (IPPC)")
        .y_desc("wallets")
        .draw()?;
    chart.draw_series(counts.iter().enumerate().map(|(i, c)| {
        let x0 = lo + i as f64 * width;
        Rectangle::new([(x0, 0), (x0 + width, *c)], BLUE.mix(0.6).filled())
    }))?;
    root.present()?;
    Ok(())
}
