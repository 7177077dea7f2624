//! `timestamp,value` time series from CSV, as in the NAB traces.
//!
//! Owns parsing (header optional; timestamps as `YYYY-MM-DD HH:MM:SS`, RFC 3339
//! without offsets, or epoch seconds; all read as UTC) and resampling onto a regular
//! grid. It does not interpret the values; [`crate::simulate::DemandSeries`] does.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::limits::{self, MAX_CSV_BYTES, MAX_SAMPLES};
use crate::tz::parse_timestamp;

/// A series could not be read.
#[derive(Debug, Error)]
pub enum SeriesError {
    /// IO failure.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("{path}: line {line}: {what}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// Fewer than two samples, or timestamps not increasing.
    #[error("{path}: {what}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// A series of `(timestamp, value)` samples in increasing time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Seconds since the epoch.
    pub timestamps: Vec<i64>,
    /// Values.
    pub values: Vec<f64>,
}

impl Series {
    /// The most common spacing between samples, seconds.
    pub fn typical_step_s(&self) -> i64 {
        let mut diffs: Vec<i64> = self.timestamps.windows(2).map(|w| w[1] - w[0]).collect();
        diffs.sort_unstable();
        diffs.get(diffs.len() / 2).copied().unwrap_or(60).max(1)
    }

    /// Resamples onto a grid of `step_s` from the first timestamp, holding the last
    /// sample at or before each grid point (gaps are held, not interpolated).
    /// At most [`MAX_SAMPLES`] points: a longer grid is cut at that many
    /// (a series read by [`load_csv_series`] always fits at its typical step).
    pub fn regular(&self, step_s: i64) -> (i64, Vec<f64>) {
        let step_s = step_s.max(1);
        let (Some(&first), Some(&last)) = (self.timestamps.first(), self.timestamps.last()) else {
            return (0, vec![]);
        };
        let n = limits::samples_between(first, last, step_s).unwrap_or(MAX_SAMPLES);
        let mut out = Vec::with_capacity(n);
        let mut k = 0;
        for i in 0..n {
            let t = first.saturating_add((i as i64).saturating_mul(step_s));
            while k + 1 < self.timestamps.len() && self.timestamps[k + 1] <= t {
                k += 1;
            }
            out.push(self.values[k]);
        }
        (first, out)
    }
}

/// Reads a `timestamp,value` CSV file of at most [`MAX_CSV_BYTES`].
///
/// # Errors
/// [`SeriesError`] naming the file and line for unreadable or oversized
/// files and everything [`parse_csv_series`] refuses.
pub fn load_csv_series(path: impl AsRef<Path>) -> Result<Series, SeriesError> {
    let path = path.as_ref();
    let text = limits::read_text_file(path, MAX_CSV_BYTES).map_err(|source| SeriesError::Read {
        path: path.into(),
        source,
    })?;
    parse_csv_series(&text, path)
}

/// Parses `timestamp,value` CSV text; `path` only names the source in errors.
/// A first line whose timestamp does not parse is a header.
///
/// # Errors
/// [`SeriesError`] naming the line for malformed lines, non-finite values,
/// timestamps outside 1970..=9999 or not increasing; [`SeriesError::Shape`]
/// for fewer than two samples or a series whose span at its typical step is
/// over [`MAX_SAMPLES`] samples (a huge gap between rows).
pub fn parse_csv_series(text: &str, path: &Path) -> Result<Series, SeriesError> {
    let mut s = Series {
        timestamps: vec![],
        values: vec![],
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |what: String| SeriesError::Line {
            path: path.into(),
            line: i + 1,
            what,
        };
        let (ts, v) = line
            .split_once(',')
            .ok_or_else(|| err("expected timestamp,value".into()))?;
        let Some(t) = parse_timestamp(ts.trim_matches('"')) else {
            if i == 0 {
                continue; // header
            }
            return Err(err(format!("unreadable timestamp {:?}", clip(ts))));
        };
        limits::check_unix_seconds(t).map_err(|e| err(format!("timestamp {e}")))?;
        let v: f64 = v
            .trim()
            .trim_matches('"')
            .parse()
            .map_err(|_| err(format!("unreadable value {:?}", clip(v))))?;
        if !v.is_finite() {
            return Err(err(format!("value {v} is not finite")));
        }
        if let Some(&prev) = s.timestamps.last() {
            if t <= prev {
                return Err(err(format!("timestamp {} does not increase", clip(ts))));
            }
        }
        if s.timestamps.len() == MAX_SAMPLES {
            return Err(err(format!(
                "more than {MAX_SAMPLES} samples; cut the series"
            )));
        }
        s.timestamps.push(t);
        s.values.push(v);
    }
    if s.timestamps.len() < 2 {
        return Err(SeriesError::Shape {
            path: path.into(),
            what: "need at least two samples".into(),
        });
    }
    let (first, last) = (s.timestamps[0], s.timestamps[s.timestamps.len() - 1]);
    limits::samples_between(first, last, s.typical_step_s()).map_err(|what| {
        SeriesError::Shape {
            path: path.into(),
            what,
        }
    })?;
    Ok(s)
}

/// At most 40 characters of an input field, for an error message.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Series, SeriesError> {
        parse_csv_series(text, Path::new("t.csv"))
    }

    #[test]
    fn a_huge_gap_between_rows_is_refused_before_resampling() {
        let text = "timestamp,value\n2014-01-01 00:00:00,50\n2014-01-01 00:05:00,50\n\
                    2014-01-01 00:10:00,60\n9999-01-01 00:00:00,50\n";
        let e = parse(text).expect_err("gap").to_string();
        assert!(e.contains("above the limit") && e.contains("gap"), "{e}");
    }

    #[test]
    fn extreme_timestamps_are_refused_with_their_line() {
        for (ts, line) in [
            ("-9223372036854775808", 3),
            ("9223372036854775807", 3),
            ("99999999999-01-01 00:00:00", 3),
        ] {
            let text = format!("t,v\n1000,1\n{ts},2\n");
            let e = parse(&text).expect_err(ts).to_string();
            assert!(e.contains(&format!("line {line}")), "{ts}: {e}");
        }
    }

    #[test]
    fn a_byte_order_mark_and_a_header_are_skipped() {
        let text = "\u{feff}timestamp,value\n1000,1\n1060,2\n";
        // load_csv_series strips the mark; the parser sees the header.
        let s = parse(text.trim_start_matches('\u{feff}')).expect("parses");
        assert_eq!(s.values, vec![1.0, 2.0]);
    }

    #[test]
    fn the_regular_grid_is_capped() {
        let s = Series {
            timestamps: vec![0, i64::MAX],
            values: vec![1.0, 2.0],
        };
        let (_, v) = s.regular(1);
        assert_eq!(v.len(), MAX_SAMPLES);
    }
}
