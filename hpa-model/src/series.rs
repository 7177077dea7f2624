//! `timestamp,value` time series from CSV, as in the NAB traces.
//!
//! Owns parsing (header optional; timestamps as `YYYY-MM-DD HH:MM:SS`, RFC 3339
//! without offsets, or epoch seconds; all read as UTC) and resampling onto a regular
//! grid. It does not interpret the values; [`crate::simulate::DemandSeries`] does.

use std::path::{Path, PathBuf};

use thiserror::Error;

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
    pub fn regular(&self, step_s: i64) -> (i64, Vec<f64>) {
        let step_s = step_s.max(1);
        let (Some(&first), Some(&last)) = (self.timestamps.first(), self.timestamps.last()) else {
            return (0, vec![]);
        };
        let n = ((last - first) / step_s + 1) as usize;
        let mut out = Vec::with_capacity(n);
        let mut k = 0;
        for i in 0..n {
            let t = first + i as i64 * step_s;
            while k + 1 < self.timestamps.len() && self.timestamps[k + 1] <= t {
                k += 1;
            }
            out.push(self.values[k]);
        }
        (first, out)
    }
}

/// Reads a `timestamp,value` CSV file.
///
/// # Errors
/// [`SeriesError`] naming the file and line for unreadable files, malformed lines,
/// non-finite values, fewer than two samples or timestamps that do not increase.
pub fn load_csv_series(path: impl AsRef<Path>) -> Result<Series, SeriesError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| SeriesError::Read {
        path: path.into(),
        source,
    })?;
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
            return Err(err(format!("unreadable timestamp {ts:?}")));
        };
        let v: f64 = v
            .trim()
            .trim_matches('"')
            .parse()
            .map_err(|_| err(format!("unreadable value {v:?}")))?;
        if !v.is_finite() {
            return Err(err(format!("value {v} is not finite")));
        }
        if let Some(&prev) = s.timestamps.last() {
            if t <= prev {
                return Err(err(format!("timestamp {ts} does not increase")));
            }
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
    Ok(s)
}
