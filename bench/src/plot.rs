//! The sweep chart: deliveries per second and p99 latency against offered load, one line per
//! server, as an SVG (plotters' SVG backend, no fonts or bitmaps needed).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("no report has a load point with an offered rate (run with --sweep)")]
    Empty,
    #[error("drawing: {0}")]
    Draw(String),
}

/// One load point of a sweep: offered messages/s, deliveries/s, p99 latency (ms).
type SweepPoint = (f64, f64, f64);

const COLOURS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Draws `reports` (each one server's sweep) to `path`: throughput above, p99 below.
pub fn sweep_svg(reports: &[Report], path: &Path) -> Result<(), PlotError> {
    let series: Vec<(&str, Vec<SweepPoint>)> = reports
        .iter()
        .map(|r| {
            let points = r
                .points
                .iter()
                .filter_map(|p| Some((p.offered_per_sec?, p.deliveries_per_sec, p.latency_ms?.p99.max(0.01))))
                .collect();
            (r.label.as_str(), points)
        })
        .collect();
    let all: Vec<&SweepPoint> = series.iter().flat_map(|(_, p)| p).collect();
    if all.is_empty() {
        return Err(PlotError::Empty);
    }
    let max_x = all.iter().map(|p| p.0).fold(0.0, f64::max) * 1.05;
    let max_y = all.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1;
    let (min_p99, max_p99) = all.iter().fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
    let draw = |e: &dyn std::fmt::Display| PlotError::Draw(e.to_string());

    let root = SVGBackend::new(path, (900, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let (top, bottom) = root.split_vertically(450);

    // One chart: the two differ in their y axis (linear, log) and value, so a macro rather
    // than a function generic over plotters' coordinate types.
    macro_rules! chart {
        ($area:expr, $caption:expr, $y_desc:expr, $y_range:expr, $value:expr) => {{
            let mut chart = ChartBuilder::on($area)
                .caption($caption, ("sans-serif", 22))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(80)
                .build_cartesian_2d(0.0..max_x, $y_range)
                .map_err(|e| draw(&e))?;
            chart
                .configure_mesh()
                .x_desc("offered messages per second (all clients)")
                .y_desc($y_desc)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .draw()
                .map_err(|e| draw(&e))?;
            let value: fn(&SweepPoint) -> f64 = $value;
            for (i, (label, points)) in series.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                chart
                    .draw_series(LineSeries::new(
                        points.iter().map(|p| (p.0, value(p))),
                        colour.stroke_width(2),
                    ))
                    .map_err(|e| draw(&e))?
                    .label(*label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
                chart
                    .draw_series(points.iter().map(|p| Circle::new((p.0, value(p)), 3, colour.filled())))
                    .map_err(|e| draw(&e))?;
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()
                .map_err(|e| draw(&e))?;
        }};
    }
    chart!(&top, "Deliveries per second vs offered load", "deliveries per second", 0.0..max_y, |p| p.1);
    chart!(
        &bottom,
        "p99 latency vs offered load (log scale)",
        "p99 latency, ms",
        (min_p99 * 0.8..max_p99 * 1.25).log_scale(),
        |p| p.2
    );
    root.present().map_err(|e| draw(&e))?;
    Ok(())
}
