//! The runners' charts, written by hand as small SVG files (no plotting dependency): a bar chart
//! of time ratios around a parity line, and a line plot with a logarithmic x axis.

use std::fmt::Write as _;

/// Escapes text for SVG.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One bar: a label, the median time ratio and the min-max of the rounds.
#[derive(Clone, Debug)]
pub struct Bar {
    /// Left of the bar.
    pub label: String,
    /// Median ratio (1.0 = parity).
    pub ratio: f64,
    /// Smallest per-round ratio.
    pub lo: f64,
    /// Largest per-round ratio.
    pub hi: f64,
}

/// A horizontal bar chart of time ratios on a log2 axis, each bar drawn from the parity line
/// (1x, dashed), with the min-max of the rounds as whiskers (clipped at 1/8x and 8x). Green: kq
/// faster; amber: up to 1.5x slower; red: slower still.
pub fn ratio_chart(title: &str, subtitle: &str, bars: &[Bar]) -> String {
    const PLOT_W: f64 = 420.0;
    // About 6.2 px per character at font-size 11.
    let longest = bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(10);
    let label_w = 6.2 * longest as f64 + 20.0;
    const BAR_H: f64 = 16.0;
    const GAP: f64 = 6.0;
    const TOP: f64 = 62.0;
    let finite = |v: f64| if v.is_finite() && v > 0.0 { v } else { 1.0 };
    // A log2 axis over whole powers of two, 1/2x..2x at least and 1/8x..8x at most: a wilder
    // whisker is clipped at the edge (its number is still printed).
    let lo_exp = bars.iter().map(|b| finite(b.lo)).fold(0.5_f64, f64::min).log2().floor().max(-3.0);
    let hi_exp = bars.iter().map(|b| finite(b.hi)).fold(2.0_f64, f64::max).log2().ceil().min(3.0);
    let x = |v: f64| {
        let e = finite(v).log2().clamp(lo_exp, hi_exp);
        label_w + (e - lo_exp) / (hi_exp - lo_exp) * PLOT_W
    };
    let bottom = TOP + bars.len() as f64 * (BAR_H + GAP);
    let height = bottom + 34.0;
    let width = label_w + PLOT_W + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(s, r##"<text x="10" y="38" fill="#555">{}</text>"##, escape(subtitle));
    let mut e = lo_exp;
    while e <= hi_exp {
        let g = e.exp2();
        let gx = x(g);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{bottom}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{g}x</text>"##,
            bottom + 14.0
        );
        e += 1.0;
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#555">&#8592; kq faster   kq slower &#8594;</text>"##,
        x(1.0) - 70.0,
        bottom + 28.0
    );
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + i as f64 * (BAR_H + GAP) + GAP / 2.0;
        let color = if b.ratio <= 1.0 {
            "#3a9a4a"
        } else if b.ratio <= 1.5 {
            "#e0a030"
        } else {
            "#d04040"
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + BAR_H * 0.75,
            escape(&b.label)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{BAR_H}" fill="{color}"/>"#,
            x(b.ratio.min(1.0)),
            (x(b.ratio) - x(1.0)).abs().max(1.0)
        );
        let wy = y + BAR_H / 2.0;
        let (l, h) = (x(b.lo), x(b.hi));
        let _ = writeln!(
            s,
            r##"<path d="M{l:.1} {:.1}V{:.1}M{l:.1} {wy:.1}H{h:.1}M{h:.1} {:.1}V{:.1}" stroke="#222" fill="none"/>"##,
            wy - 4.0,
            wy + 4.0,
            wy - 4.0,
            wy + 4.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{:.2}</text>"#,
            x(b.hi.max(b.ratio)) + 5.0,
            y + BAR_H * 0.75,
            b.ratio
        );
    }
    let one = x(1.0);
    let _ = writeln!(
        s,
        r##"<line x1="{one:.1}" y1="{:.1}" x2="{one:.1}" y2="{bottom}" stroke="#000" stroke-width="1.5" stroke-dasharray="5 3"/>"##,
        TOP - 6.0
    );
    s.push_str("</svg>\n");
    s
}

/// One line of a [`line_plot`]: a name and its (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    /// In the legend.
    pub name: String,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
    /// A label drawn above each point (empty: none).
    pub labels: Vec<String>,
}

const COLORS: [&str; 6] = ["#1f6fb4", "#d04040", "#3a9a4a", "#e0a030", "#8050b0", "#555555"];

fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| span / s <= 6.0).unwrap_or(mag);
    let mut v = Vec::new();
    let mut t = (lo / step).floor() * step;
    while t <= hi + step * 1e-9 {
        if t >= lo - step * 1e-9 {
            v.push(t);
        }
        t += step;
    }
    v
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 && a % 1e6 == 0.0 {
        format!("{}M", v / 1e6)
    } else if a >= 1e3 && a % 1e3 == 0.0 {
        format!("{}k", v / 1e3)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A line plot with a log10 x axis (ticks at the data's x values) and a linear y axis starting
/// at 0 (or a log10 one over whole decades), a line per series, and a legend. Points with a non-finite or non-positive x are skipped.
pub fn line_plot(
    title: &str,
    subtitle: &str,
    x_label: &str,
    y_label: &str,
    log_y: bool,
    series: &[Series],
) -> String {
    const L: f64 = 70.0;
    const T: f64 = 56.0;
    const W: f64 = 480.0;
    const H: f64 = 260.0;
    let pts = || {
        series.iter().flat_map(|s| s.points.iter()).filter(move |(x, y)| {
            *x > 0.0 && x.is_finite() && y.is_finite() && (!log_y || *y > 0.0)
        })
    };
    let xmin = pts().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let xmax = pts().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let ymin = pts().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let ymax = pts().map(|p| p.1).fold(0.0_f64, f64::max);
    // x: log10 over the data, padded; ticks at the data's x values.
    let (xe0, xe1) = if xmin.is_finite() {
        let (a, b) = (xmin.log10(), xmax.log10());
        let pad = if b > a { (b - a) * 0.06 } else { 0.5 };
        (a - pad, b + pad)
    } else {
        (0.0, 1.0)
    };
    let mut xticks: Vec<f64> = pts().map(|p| p.0).collect();
    xticks.sort_by(f64::total_cmp);
    xticks.dedup();
    // y: linear from 0, or log10 over whole decades.
    let (ticks, y0, ytop) = if log_y && ymin.is_finite() && ymin > 0.0 {
        let (a, b) = (ymin.log10().floor(), ymax.log10().ceil().max(ymin.log10().floor() + 1.0));
        let mut t = Vec::new();
        let mut e = a;
        while e <= b {
            t.push(10f64.powf(e));
            e += 1.0;
        }
        (t, 10f64.powf(a), 10f64.powf(b))
    } else {
        let ymax = if ymax > 0.0 { ymax * 1.1 } else { 1.0 };
        let t = nice_ticks(0.0, ymax);
        let top = t.last().copied().unwrap_or(ymax).max(ymax);
        (t, 0.0, top)
    };
    let px = |x: f64| L + (x.log10() - xe0) / (xe1 - xe0) * W;
    let py = |y: f64| {
        if log_y && y0 > 0.0 {
            T + H - (y.max(y0).log10() - y0.log10()) / (ytop.log10() - y0.log10()) * H
        } else {
            T + H - y / ytop * H
        }
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="11">"#,
        L + W + 200.0,
        T + H + 50.0
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(s, r##"<text x="10" y="38" fill="#555">{}</text>"##, escape(subtitle));
    for t in &ticks {
        let y = py(*t);
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            L + W,
            L - 5.0,
            y + 4.0,
            fmt_tick(*t)
        );
    }
    for &xv in &xticks {
        let x = px(xv);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            T + H,
            T + H + 15.0,
            fmt_tick(xv)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{L}" y="{T}" width="{W}" height="{H}" fill="none" stroke="#888"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}{}</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"##,
        L + W / 2.0,
        T + H + 34.0,
        escape(x_label),
        if log_y { " (log scale; y log scale too)" } else { " (log scale)" },
        T + H / 2.0,
        T + H / 2.0,
        escape(y_label)
    );
    for (i, se) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let p: Vec<String> = se
            .points
            .iter()
            .filter(|(x, y)| *x > 0.0 && x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        if !p.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
                p.join(" ")
            );
            for (k, pt) in p.iter().enumerate() {
                let (x, y) = pt.split_once(',').unwrap_or(("0", "0"));
                let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="3" fill="{c}"/>"#);
                if let Some(l) = se.labels.get(k) {
                    let ly: f64 = y.parse().unwrap_or(0.0) - 7.0;
                    let _ = writeln!(
                        s,
                        r#"<text x="{x}" y="{ly:.1}" text-anchor="middle" fill="{c}">{}</text>"#,
                        escape(l)
                    );
                }
            }
        }
        let ly = T + 10.0 + 16.0 * i as f64;
        let lx = L + W + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed() {
        let bars = [Bar { label: "a <b>".into(), ratio: 0.5, lo: 0.4, hi: 0.7 }];
        let c = ratio_chart("t", "s", &bars);
        assert!(c.starts_with("<svg") && c.trim_end().ends_with("</svg>"));
        assert!(c.contains("a &lt;b&gt;") && c.contains("0.50"));
        let s = [Series {
            name: "kq".into(),
            points: vec![(10.0, 1.0), (1000.0, 3.0)],
            labels: vec!["a".into()],
        }];
        let p = line_plot("t", "s", "N", "ns", true, &s);
        assert!(p.contains("<polyline") && p.contains(">1k<"));
        let empty = line_plot("t", "s", "N", "ns", false, &[]);
        assert!(empty.trim_end().ends_with("</svg>"));
    }
}
