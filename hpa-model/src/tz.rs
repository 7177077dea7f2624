//! Civil time and time zones, just enough for KEDA cron windows.
//!
//! Time zones are read from the system tz database (`$ZONEINFO`, then
//! `/usr/share/zoneinfo`) in TZif format, the way Go's `time.LoadLocation` reads them,
//! so no zone data is compiled into the crate. `UTC`, `Etc/UTC` and `Local`-free names
//! of fixed offsets need no file. Instants after the last transition in the file use
//! the last offset in it (the POSIX footer rule is not evaluated; distributions ship
//! "fat" files whose transitions run to 2037).

use std::path::PathBuf;

use thiserror::Error;

/// A time zone could not be loaded.
#[derive(Debug, Error)]
pub enum TzError {
    /// The name is not a plausible zone name.
    #[error("time zone {0:?}: invalid name")]
    InvalidName(String),
    /// No zone file was found.
    #[error("time zone {name:?}: not found in the tz database ({path})")]
    NotFound {
        /// Zone name.
        name: String,
        /// Where it was looked for.
        path: String,
    },
    /// The file is not valid TZif.
    #[error("time zone {0:?}: malformed TZif data")]
    Malformed(String),
}

/// A loaded time zone: UTC offsets by instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeZone {
    /// The zone's name as given.
    pub name: String,
    /// Transition instants, seconds since the epoch, ascending.
    transitions: Vec<i64>,
    /// Offset (seconds east of UTC) in effect from the matching transition.
    offsets: Vec<i32>,
    /// Offset before the first transition.
    initial: i32,
}

impl TimeZone {
    /// UTC.
    pub fn utc() -> Self {
        TimeZone {
            name: "UTC".into(),
            transitions: vec![],
            offsets: vec![],
            initial: 0,
        }
    }

    /// Loads a zone by IANA name.
    ///
    /// # Errors
    /// [`TzError`] when the name is invalid, the file is missing or malformed.
    pub fn load(name: &str) -> Result<Self, TzError> {
        if matches!(
            name,
            "UTC"
                | "Etc/UTC"
                | "Etc/UCT"
                | "UCT"
                | "Etc/Universal"
                | "Universal"
                | "Zulu"
                | "Etc/Zulu"
                | "GMT"
                | "Etc/GMT"
        ) {
            return Ok(TimeZone {
                name: name.into(),
                ..TimeZone::utc()
            });
        }
        if name.is_empty() || name.starts_with('/') || name.contains("..") || name.contains('\\') {
            return Err(TzError::InvalidName(name.into()));
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(z) = std::env::var_os("ZONEINFO") {
            dirs.push(PathBuf::from(z));
        }
        dirs.push(PathBuf::from("/usr/share/zoneinfo"));
        dirs.push(PathBuf::from("/usr/lib/zoneinfo"));
        for dir in &dirs {
            let path = dir.join(name);
            if let Ok(bytes) = std::fs::read(&path) {
                return parse_tzif(name, &bytes).ok_or_else(|| TzError::Malformed(name.into()));
            }
        }
        Err(TzError::NotFound {
            name: name.into(),
            path: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Offset from UTC in seconds at the instant `utc_s`.
    pub fn offset_at(&self, utc_s: i64) -> i32 {
        match self.transitions.partition_point(|t| *t <= utc_s) {
            0 => self.initial,
            i => self.offsets[i - 1],
        }
    }

    /// The wall-clock gaps (clocks jump forward) from `from_utc_s` to
    /// `to_utc_s`: per gap, the first skipped and the first existing local
    /// time, as local seconds since the epoch.
    pub fn gaps_between(&self, from_utc_s: i64, to_utc_s: i64) -> Vec<(i64, i64)> {
        let first = self.transitions.partition_point(|t| *t < from_utc_s);
        (first..self.transitions.len())
            .take_while(|&i| self.transitions[i] < to_utc_s)
            .filter_map(|i| {
                let before = if i == 0 {
                    self.initial
                } else {
                    self.offsets[i - 1]
                };
                let after = self.offsets[i];
                let at = self.transitions[i];
                (after > before).then(|| (at + i64::from(before), at + i64::from(after)))
            })
            .collect()
    }
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn parse_tzif(name: &str, b: &[u8]) -> Option<TimeZone> {
    if b.get(0..4)? != b"TZif" {
        return None;
    }
    let version = *b.get(4)?;
    let header = |at: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (k, slot) in c.iter_mut().enumerate() {
            *slot = usize::try_from(be_i32(b, at + 20 + 4 * k)?).ok()?;
        }
        Some(c)
    };
    // counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let c1 = header(0)?;
    let v1_len = c1[3] * 4 + c1[3] + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
    let (base, c, tsize) = if version >= b'2' {
        let at = 44 + v1_len;
        (at + 44, header(at)?, 8)
    } else {
        (44, c1, 4)
    };
    let timecnt = c[3];
    let typecnt = c[4];
    let mut transitions = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        let t = if tsize == 8 {
            be_i64(b, base + i * 8)?
        } else {
            i64::from(be_i32(b, base + i * 4)?)
        };
        transitions.push(t);
    }
    let idx_at = base + timecnt * tsize;
    let types_at = idx_at + timecnt;
    let mut type_offsets = Vec::with_capacity(typecnt);
    let mut type_dst = Vec::with_capacity(typecnt);
    for k in 0..typecnt {
        type_offsets.push(be_i32(b, types_at + k * 6)?);
        type_dst.push(*b.get(types_at + k * 6 + 4)? != 0);
    }
    let mut offsets = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        offsets.push(*type_offsets.get(usize::from(*b.get(idx_at + i)?))?);
    }
    let initial = type_dst
        .iter()
        .position(|d| !d)
        .and_then(|k| type_offsets.get(k).copied())
        .or(type_offsets.first().copied())?;
    Some(TimeZone {
        name: name.into(),
        transitions,
        offsets,
        initial,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1-12, day 1-31) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Day of week, 0 = Sunday.
    pub weekday: u32,
}

/// Wall-clock time of `local_s` (seconds since the epoch, already shifted by the offset).
pub fn civil_from_seconds(local_s: i64) -> Civil {
    let days = local_s.div_euclid(86_400);
    let secs = local_s.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: ((secs % 3600) / 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// Parses `YYYY-MM-DD HH:MM[:SS]`, `YYYY-MM-DDTHH:MM[:SS][Z]` or a plain integer of
/// seconds since the epoch into seconds since the epoch (UTC; no offsets).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, "00:00:00"));
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if d.next().is_some()
        || !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let mut t = time.split(':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mm: i64 = t.next().unwrap_or("0").parse().ok()?;
    let ss: f64 = t.next().unwrap_or("0").parse().ok()?;
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) || !(0.0..61.0).contains(&ss) {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-1000, 0, 19_000, 20_089] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        // 2024-01-04 was a Thursday
        assert_eq!(
            civil_from_seconds(days_from_civil(2024, 1, 4) * 86_400).weekday,
            4
        );
    }

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_timestamp("1970-01-02 00:00:00"), Some(86_400));
        assert_eq!(parse_timestamp("2014-05-14 01:14:00"), Some(1_400_030_040));
        assert_eq!(parse_timestamp("not a date"), None);
    }
}
