//! The HPA-status history of one autoscaler as a compact, bounded
//! checkpoint that lives in its ScalingRecommendation's status
//! (`status.history`), so a restarted operator or a new leader resumes from
//! the samples the last one had instead of starting a new week.
//!
//! # Encoding (format 1)
//! Each sample is four signed LEB128 numbers, each the difference to the
//! same number of the previous sample (the first to zero): seconds since
//! the Unix epoch, CPU utilization in hundredths of a percent plus one
//! (zero: no CPU metric in the status), desired replicas, current replicas.
//! The bytes are base64 (standard alphabet). HPA status reports whole
//! percents and whole replicas, so the round trip is exact; a week of
//! 5-minute samples stays under 24 KB (tested below). At most
//! [`super::hpa_status::MAX_SAMPLES_PER_KEY`] samples and
//! [`MAX_CHECKPOINT_CHARS`] characters are kept: a checkpoint that would be
//! longer keeps its newest samples.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use base64::Engine as _;

use super::hpa_status::{StatusSample, MAX_SAMPLES_PER_KEY};

/// The encoding this build writes and reads.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// The longest `data` written or accepted, in characters (base64).
pub const MAX_CHECKPOINT_CHARS: usize = 96 * 1024;

/// How often a recommendation's checkpoint is refreshed, seconds: a restart
/// loses at most this much of the HPA-status history.
pub const CHECKPOINT_EVERY_SECONDS: i64 = 3600;

/// `status.history` of a ScalingRecommendation: the HPA-status samples of
/// its autoscaler (written by the operator when the history comes from HPA
/// status, not Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryCheckpoint {
    /// Encoding version (1).
    pub format: u32,
    /// How many samples `data` holds.
    pub samples: u32,
    /// Time of the oldest sample (RFC 3339).
    pub from: String,
    /// Time of the newest sample (RFC 3339).
    pub to: String,
    /// The samples, delta-encoded signed LEB128, base64.
    pub data: String,
}

/// Why a checkpoint cannot be read; the operator logs it and starts that
/// autoscaler's history afresh.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// Written by an operator with another encoding.
    #[error("status.history has format {0}; this operator reads format {CHECKPOINT_FORMAT}")]
    Format(u32),
    /// Longer than any checkpoint the operator writes.
    #[error("status.history.data is {0} characters, over the limit of {MAX_CHECKPOINT_CHARS}")]
    TooLong(usize),
    /// Not base64, or the numbers do not parse.
    #[error("status.history.data is not a valid encoding: {0}")]
    Encoding(String),
    /// The content disagrees with its own header or is out of order.
    #[error("status.history is inconsistent: {0}")]
    Inconsistent(String),
}

impl HistoryCheckpoint {
    /// The checkpoint of `samples` (oldest first); `None` when there are
    /// none. Keeps the newest [`MAX_SAMPLES_PER_KEY`] samples, and fewer if
    /// the encoding would pass [`MAX_CHECKPOINT_CHARS`].
    pub fn of(samples: &[StatusSample]) -> Option<HistoryCheckpoint> {
        let mut from = samples.len().saturating_sub(MAX_SAMPLES_PER_KEY);
        loop {
            let kept = samples.get(from..)?;
            let (first, last) = (kept.first()?, kept.last()?);
            let data = base64::engine::general_purpose::STANDARD.encode(encode(kept));
            if data.len() <= MAX_CHECKPOINT_CHARS {
                return Some(HistoryCheckpoint {
                    format: CHECKPOINT_FORMAT,
                    samples: u32::try_from(kept.len()).ok()?,
                    from: rfc3339(first.at_unix_seconds),
                    to: rfc3339(last.at_unix_seconds),
                    data,
                });
            }
            // Drop the oldest tenth and try again.
            from += (kept.len() / 10).max(1);
        }
    }

    /// The newest sample's time, Unix seconds (`None` if unreadable).
    pub fn to_unix_seconds(&self) -> Option<i64> {
        self.to
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_second())
    }

    /// The samples, oldest first.
    ///
    /// # Errors
    /// [`CheckpointError`] for another format, an oversized or malformed
    /// `data`, a count or time range that disagrees with the header, or
    /// samples out of time order.
    pub fn samples(&self) -> Result<Vec<StatusSample>, CheckpointError> {
        if self.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Format(self.format));
        }
        if self.data.len() > MAX_CHECKPOINT_CHARS {
            return Err(CheckpointError::TooLong(self.data.len()));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .map_err(|e| CheckpointError::Encoding(e.to_string()))?;
        let samples = decode(&bytes)?;
        if samples.len() != self.samples as usize {
            return Err(CheckpointError::Inconsistent(format!(
                "samples says {} but data holds {}",
                self.samples,
                samples.len()
            )));
        }
        if samples.len() > MAX_SAMPLES_PER_KEY {
            return Err(CheckpointError::Inconsistent(format!(
                "{} samples, over the limit of {MAX_SAMPLES_PER_KEY}",
                samples.len()
            )));
        }
        if samples
            .windows(2)
            .any(|w| w[1].at_unix_seconds <= w[0].at_unix_seconds)
        {
            return Err(CheckpointError::Inconsistent(
                "sample times are not increasing".into(),
            ));
        }
        let ends = (samples.first(), samples.last());
        if let (Some(first), Some(last)) = ends {
            if rfc3339(first.at_unix_seconds) != self.from
                || rfc3339(last.at_unix_seconds) != self.to
            {
                return Err(CheckpointError::Inconsistent(format!(
                    "from/to ({} to {}) are not the first and last sample times",
                    self.from, self.to
                )));
            }
        }
        Ok(samples)
    }
}

fn rfc3339(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The four numbers of a sample, as stored.
fn numbers(s: &StatusSample) -> [i64; 4] {
    let cpu = s
        .cpu_utilization
        .filter(|v| v.is_finite())
        .map_or(0, |v| (v.max(0.0) * 100.0).round() as i64 + 1);
    [
        s.at_unix_seconds,
        cpu,
        s.desired_replicas.max(0.0).round() as i64,
        s.current_replicas.max(0.0).round() as i64,
    ]
}

fn encode(samples: &[StatusSample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 6);
    let mut prev = [0i64; 4];
    for s in samples {
        let now = numbers(s);
        for (n, p) in now.iter().zip(prev) {
            if let Some((bytes, len)) = leb128fmt::encode_s64(n.wrapping_sub(p)) {
                out.extend_from_slice(&bytes[..len]);
            }
        }
        prev = now;
    }
    out
}

fn decode(bytes: &[u8]) -> Result<Vec<StatusSample>, CheckpointError> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut prev = [0i64; 4];
    while pos < bytes.len() {
        if out.len() >= MAX_SAMPLES_PER_KEY {
            return Err(CheckpointError::Inconsistent(format!(
                "more than {MAX_SAMPLES_PER_KEY} samples"
            )));
        }
        let mut now = [0i64; 4];
        for (n, p) in now.iter_mut().zip(prev) {
            let d = leb128fmt::decode_sint_slice::<i64, 64>(bytes, &mut pos).map_err(|e| {
                CheckpointError::Encoding(format!("a number at byte {pos} does not parse ({e:?})"))
            })?;
            *n = p.checked_add(d).ok_or_else(|| {
                CheckpointError::Encoding(format!("a number at byte {pos} overflows"))
            })?;
        }
        let [at, cpu, desired, current] = now;
        if cpu < 0 || desired < 0 || current < 0 {
            return Err(CheckpointError::Inconsistent(format!(
                "a negative value in the sample at {at}"
            )));
        }
        out.push(StatusSample {
            at_unix_seconds: at,
            cpu_utilization: (cpu > 0).then(|| (cpu - 1) as f64 / 100.0),
            desired_replicas: desired as f64,
            current_replicas: current as f64,
        });
        prev = now;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64, cpu: Option<f64>, desired: f64, current: f64) -> StatusSample {
        StatusSample {
            at_unix_seconds: t,
            cpu_utilization: cpu,
            desired_replicas: desired,
            current_replicas: current,
        }
    }

    /// A week of 5-minute samples from HPA status: whole percents, a few
    /// missed ticks, a status without a CPU metric.
    fn week() -> Vec<StatusSample> {
        let start = 1_764_547_200;
        (0..MAX_SAMPLES_PER_KEY as i64)
            .filter(|i| i % 97 != 5)
            .map(|i| {
                let cpu = (i == 40)
                    .then_some(f64::NAN)
                    .or(Some(((i * 37) % 140) as f64));
                let cpu = if i == 41 { None } else { cpu };
                let replicas = 4.0 + ((i / 12) % 7) as f64;
                sample(start + i * 300 + (i % 3), cpu, replicas, replicas - 1.0)
            })
            .collect()
    }

    #[test]
    fn a_week_round_trips_exactly_and_stays_small() {
        let samples = week();
        let c = HistoryCheckpoint::of(&samples).expect("checkpoint");
        assert_eq!(c.samples as usize, samples.len());
        assert_eq!(c.from, "2025-12-01T00:00:00Z");
        let back = c.samples().expect("reads back");
        assert_eq!(back.len(), samples.len());
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!(a.at_unix_seconds, b.at_unix_seconds);
            assert_eq!(a.desired_replicas, b.desired_replicas);
            assert_eq!(a.current_replicas, b.current_replicas);
            match (
                a.cpu_utilization.filter(|v| v.is_finite()),
                b.cpu_utilization,
            ) {
                (None, None) => {}
                (Some(x), Some(y)) => assert_eq!(x, y),
                other => panic!("CPU differs: {other:?}"),
            }
        }
        assert!(
            c.data.len() < 24 * 1024,
            "a week of samples takes {} characters",
            c.data.len()
        );
    }

    #[test]
    fn a_checkpoint_keeps_the_newest_samples_within_the_bound() {
        let mut samples = week();
        let extra: Vec<_> = (1..=100)
            .map(|i| {
                sample(
                    samples.last().expect("samples").at_unix_seconds + i * 300,
                    Some(50.0),
                    3.0,
                    3.0,
                )
            })
            .collect();
        samples.extend(extra);
        let c = HistoryCheckpoint::of(&samples).expect("checkpoint");
        assert!(c.samples as usize <= MAX_SAMPLES_PER_KEY);
        let back = c.samples().expect("reads back");
        assert_eq!(
            back.last().map(|s| s.at_unix_seconds),
            samples.last().map(|s| s.at_unix_seconds),
            "the newest sample is kept"
        );
        assert!(HistoryCheckpoint::of(&[]).is_none());
    }

    #[test]
    fn a_damaged_checkpoint_is_an_error_that_names_the_problem() {
        let good = HistoryCheckpoint::of(&week()).expect("checkpoint");
        let cases = [
            (
                HistoryCheckpoint {
                    format: 2,
                    ..good.clone()
                },
                "format 2",
            ),
            (
                HistoryCheckpoint {
                    data: "%%% not base64".into(),
                    ..good.clone()
                },
                "not a valid encoding",
            ),
            (
                HistoryCheckpoint {
                    samples: good.samples + 1,
                    ..good.clone()
                },
                "samples says",
            ),
            (
                HistoryCheckpoint {
                    to: "2020-01-01T00:00:00Z".into(),
                    ..good.clone()
                },
                "first and last",
            ),
            (
                HistoryCheckpoint {
                    data: "A".repeat(MAX_CHECKPOINT_CHARS + 4),
                    ..good.clone()
                },
                "over the limit",
            ),
            (
                HistoryCheckpoint {
                    // One byte with the continuation bit set: truncated.
                    data: base64::engine::general_purpose::STANDARD.encode([0x80u8]),
                    ..good.clone()
                },
                "does not parse",
            ),
        ];
        for (c, needle) in cases {
            let e = c.samples().expect_err("damaged").to_string();
            assert!(e.contains(needle), "{e} lacks {needle}");
        }
        // Times going backwards.
        let backwards = [sample(600, None, 1.0, 1.0), sample(300, None, 1.0, 1.0)];
        let c = HistoryCheckpoint {
            format: 1,
            samples: 2,
            from: rfc3339(600),
            to: rfc3339(300),
            data: base64::engine::general_purpose::STANDARD.encode(encode(&backwards)),
        };
        assert!(c
            .samples()
            .expect_err("backwards")
            .to_string()
            .contains("not increasing"));
    }
}
