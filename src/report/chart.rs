//! The SVG chart of `report.html`: blue and green 5xx per minute as bars, the green
//! traffic weight as a step line on a 0–100 % axis, and markers for the alarm and for
//! traffic back on blue. Drawn here as text: no script, no external asset.

use crate::report::model::{Report, TrafficStep};
use chrono::{DateTime, Utc};
use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 48.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// The chart, or `None` when there are no metrics to draw.
pub fn svg(r: &Report) -> Option<String> {
    let m = r.metrics.as_ref()?;
    if m.points.is_empty() {
        return None;
    }
    let t0 = m.points.first()?.at;
    let period = chrono::Duration::seconds(m.period_seconds.max(1) as i64);
    let t1 = m.points.last()?.at + period;
    let span = (t1 - t0).num_milliseconds().max(1) as f64;
    let x = |t: DateTime<Utc>| {
        LEFT + (W - LEFT - RIGHT) * ((t - t0).num_milliseconds() as f64 / span).clamp(0.0, 1.0)
    };
    let ymax = m
        .points
        .iter()
        .map(|p| p.blue_5xx.max(p.green_5xx))
        .fold(0.0, f64::max)
        .max(1.0);
    // Counts: ticks at a round step of at least 1 (1, 2, 5 × 10ⁿ), never `1.2, 2.5, 3.8`.
    let step = nice_step(ymax / 4.0);
    let ticks = (ymax / step).ceil().max(1.0) as usize;
    let ymax = step * ticks as f64;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h * (1.0 - v / ymax);
    let yp = |p: f64| TOP + plot_h * (1.0 - p / 100.0);

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="5xx per minute, blue and green, with green traffic weight"><style>text{{font:11px sans-serif;fill:#444}}</style>"##
    );
    // Axes and grid.
    for i in 0..=ticks {
        let v = step * i as f64;
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e5e5e5"/>"##,
            W - RIGHT
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 4.0,
            yy + 4.0,
            fmt(v)
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}">{} %</text>"##,
            W - RIGHT + 4.0,
            yp(25.0 * i as f64) + 4.0,
            25 * i
        );
    }
    // Bars: blue and green side by side per period.
    let slot = (W - LEFT - RIGHT) / m.points.len() as f64;
    let bw = (slot * 0.38).max(1.0);
    for (i, p) in m.points.iter().enumerate() {
        let x0 = LEFT + slot * i as f64 + slot * 0.1;
        for (k, (v, colour)) in [(p.blue_5xx, "#2b6cb0"), (p.green_5xx, "#2f9e44")]
            .into_iter()
            .enumerate()
        {
            if v > 0.0 {
                let _ = write!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{colour}"><title>{} {} 5xx at {}</title></rect>"##,
                    x0 + bw * k as f64,
                    y(v),
                    (TOP + plot_h - y(v)).max(0.5),
                    if k == 0 { "blue" } else { "green" },
                    fmt(v),
                    p.at.format("%H:%M")
                );
            }
        }
        if m.points.len() <= 30 || i % (m.points.len() / 15).max(1) == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                x0 + bw,
                H - BOTTOM + 14.0,
                p.at.format("%H:%M")
            );
        }
    }
    // Traffic weight as a step line.
    if let Some(path) = steps(&r.traffic, t0, t1, &x, &yp) {
        let _ = write!(
            s,
            r##"<path d="{path}" fill="none" stroke="#e67700" stroke-width="2" stroke-dasharray="5 3"/>"##
        );
    }
    // Markers.
    let alarm = r
        .trigger
        .as_ref()
        .and_then(|t| t.alarms.iter().filter_map(|a| a.flipped_at).min());
    let back = r
        .timeline
        .iter()
        .find(|e| e.kind == "back_on_blue")
        .map(|e| e.at);
    for (at, label, colour) in [
        (alarm, "alarm", "#c92a2a"),
        (back, "back on blue", "#2b6cb0"),
    ] {
        if let Some(at) = at.filter(|a| *a >= t0 && *a <= t1) {
            let xx = x(at);
            let _ = write!(
                s,
                r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5"/>"##,
                TOP + plot_h
            );
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="{colour}">{label}</text>"##,
                xx + 3.0,
                TOP + 10.0
            );
        }
    }
    // Legend.
    let ly = H - 10.0;
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{:.1}" width="10" height="10" fill="#2b6cb0"/><text x="{:.1}" y="{ly}">blue 5xx</text><rect x="{:.1}" y="{:.1}" width="10" height="10" fill="#2f9e44"/><text x="{:.1}" y="{ly}">green 5xx</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#e67700" stroke-width="2" stroke-dasharray="5 3"/><text x="{:.1}" y="{ly}">green traffic (right axis)</text>"##,
        ly - 9.0,
        LEFT + 14.0,
        LEFT + 80.0,
        ly - 9.0,
        LEFT + 94.0,
        LEFT + 170.0,
        ly - 4.0,
        LEFT + 190.0,
        ly - 4.0,
        LEFT + 194.0
    );
    s.push_str("</svg>");
    Some(s)
}

fn steps(
    traffic: &[TrafficStep],
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    x: &dyn Fn(DateTime<Utc>) -> f64,
    yp: &dyn Fn(f64) -> f64,
) -> Option<String> {
    if traffic.is_empty() {
        return None;
    }
    let start = crate::report::verdict::weight_at(traffic, t0).unwrap_or(0.0);
    let mut d = format!("M{:.1} {:.1}", x(t0), yp(start));
    let mut last = start;
    for st in traffic.iter().filter(|s| s.at > t0 && s.at < t1) {
        let xx = x(st.at);
        let _ = write!(
            d,
            " L{xx:.1} {:.1} L{xx:.1} {:.1}",
            yp(last),
            yp(st.green_percent)
        );
        last = st.green_percent;
    }
    let _ = write!(d, " L{:.1} {:.1}", x(t1), yp(last));
    Some(d)
}

/// The round tick step at or above `v`: 1, 2 or 5 × 10ⁿ, at least 1 (counts are whole).
fn nice_step(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_whole_and_round() {
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(nice_step(1.25), 2.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(53.0), 100.0);
        assert_eq!(nice_step(20.0), 20.0);
    }
}
