//! Inline SVG line charts for the HTML report: no script, no fonts or
//! images fetched, every label escaped.

use std::fmt::Write as _;

/// One line of a chart.
pub struct Line<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Stroke color (CSS).
    pub color: &'a str,
    /// Dashed stroke.
    pub dashed: bool,
    /// Values at evenly spaced x positions (NaN = gap).
    pub values: &'a [f64],
}

/// Escape text for HTML and SVG.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `points` values: the maximum of each bucket (peaks stay visible).
pub fn downsample(values: &[f64], points: usize) -> Vec<f64> {
    if values.len() <= points || points == 0 {
        return values.to_vec();
    }
    let per = values.len().div_ceil(points);
    values
        .chunks(per)
        .map(|c| {
            c.iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(f64::NAN, f64::max)
        })
        .collect()
}

const W: f64 = 900.0;
const H: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

/// A line chart: `lines` over a shared x axis with `x_ticks` (fraction of
/// the width, label), shaded `bands` (start and end as fractions of the
/// width), titled `title` for screen readers.
pub fn line_chart(
    title: &str,
    lines: &[Line<'_>],
    x_ticks: &[(f64, String)],
    bands: &[(f64, f64)],
) -> String {
    let ymax = lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.05;
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let y = |v: f64| TOP + ph - v / ymax * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"><title>{}</title>"#,
        escape(title)
    );
    for (a, b) in bands {
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{ph}" fill="#f5d0a9" opacity="0.6"/>"##,
            LEFT + a.clamp(0.0, 1.0) * pw,
            ((b - a).max(0.0) * pw).min(pw)
        );
    }
    // Axes and y grid.
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#888"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#888"/>"##,
        TOP + ph,
        LEFT + pw,
        TOP + ph,
        TOP + ph
    );
    for k in 0..=4 {
        let v = ymax * f64::from(k) / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#eee"/><text x="{2:.1}" y="{3:.1}" font-size="11" text-anchor="end">{4:.0}</text>"##,
            y(v),
            LEFT + pw,
            LEFT - 4.0,
            y(v) + 4.0,
            v
        );
    }
    for (f, label) in x_ticks {
        let x = LEFT + f.clamp(0.0, 1.0) * pw;
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{0:.1}" x2="{x:.1}" y2="{1:.1}" stroke="#888"/><text x="{x:.1}" y="{2:.1}" font-size="11" text-anchor="middle">{3}</text>"##,
            TOP + ph,
            TOP + ph + 4.0,
            TOP + ph + 16.0,
            escape(label)
        );
    }
    for l in lines {
        let n = l.values.len();
        if n == 0 {
            continue;
        }
        let mut d = String::new();
        let mut pen_up = true;
        for (i, v) in l.values.iter().enumerate() {
            if !v.is_finite() {
                pen_up = true;
                continue;
            }
            let x = LEFT
                + if n > 1 {
                    i as f64 / (n - 1) as f64
                } else {
                    0.0
                } * pw;
            let _ = write!(d, "{}{x:.1},{:.1} ", if pen_up { "M" } else { "L" }, y(*v));
            pen_up = false;
        }
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.5"{}/>"#,
            d.trim_end(),
            escape(l.color),
            if l.dashed {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            }
        );
    }
    // Legend.
    let mut lx = LEFT;
    for l in lines {
        let _ = write!(
            s,
            r#"<rect x="{lx:.1}" y="{0:.1}" width="14" height="3" fill="{1}"/><text x="{2:.1}" y="{3:.1}" font-size="11">{4}</text>"#,
            H - 10.0,
            escape(l.color),
            lx + 18.0,
            H - 6.0,
            escape(l.label)
        );
        lx += 26.0 + 6.5 * l.label.chars().count() as f64;
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_control_characters_replaced() {
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
        assert_eq!(escape("a\u{1b}[31mb"), "a\u{fffd}[31mb");
    }

    #[test]
    fn downsampling_keeps_each_bucket_peak() {
        let v: Vec<f64> = (0..100).map(|i| if i == 57 { 9.0 } else { 1.0 }).collect();
        let d = downsample(&v, 10);
        assert_eq!(d.len(), 10);
        assert_eq!(d[5], 9.0);
    }

    #[test]
    fn a_chart_draws_one_path_per_line_and_a_band() {
        let a = [1.0, 2.0, f64::NAN, 3.0];
        let svg = line_chart(
            "t<",
            &[
                Line {
                    label: "demand",
                    color: "#333",
                    dashed: false,
                    values: &a,
                },
                Line {
                    label: "replicas",
                    color: "#06c",
                    dashed: true,
                    values: &a,
                },
            ],
            &[(0.5, "day 2".into())],
            &[(0.1, 0.2)],
        );
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("<title>t&lt;</title>"));
        assert!(svg.contains("stroke-dasharray"));
        // The gap starts a new sub-path.
        assert_eq!(svg.matches(" M").count() + svg.matches("\"M").count(), 4);
    }
}
