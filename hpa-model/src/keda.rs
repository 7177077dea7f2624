//! KEDA specifics: cron triggers and scale to zero.
//!
//! Owns the cron scaler (`pkg/scalers/cron_scaler.go`): parsing its metadata, deciding
//! whether "now" lies inside the `[start, end)` window in the trigger's time zone, and
//! the metric it feeds the HPA (a floor of `desiredReplicas` inside the window). Also
//! owns the scale executor's activation rules: with `minReplicaCount: 0` the target
//! goes to zero only after `cooldownPeriod` seconds without any active trigger, and
//! comes back to `max(minReplicaCount, 1)` as soon as one is active. It does not run the
//! HPA; the simulator feeds the cron metric to [`crate::model`] as an External metric.
//!
//! Cron expressions use the standard five fields (minute, hour, day of month, month,
//! day of week) with `*`, `?`, ranges, steps, lists, month and weekday names and the
//! `@hourly`-style descriptors, as robfig/cron's standard parser accepts them.

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use crate::tz::{civil_from_seconds, TimeZone, TzError};

/// KEDA's default `cooldownPeriod`, seconds.
pub const DEFAULT_COOLDOWN_PERIOD_S: i64 = 300;
/// The cron scaler's metric value outside the window when `desiredReplicas` is set.
pub const CRON_DEFAULT_DESIRED_REPLICAS: i64 = 1;

/// A cron trigger could not be built.
#[derive(Debug, Error)]
pub enum CronError {
    /// A required metadata key is missing.
    #[error("cron trigger: no {0} specified")]
    Missing(&'static str),
    /// start and end are the same expression.
    #[error("cron trigger: start and end can not have exactly same time input")]
    SameStartEnd,
    /// An expression does not parse.
    #[error("cron trigger: {field} {expr:?}: {why}")]
    BadExpression {
        /// `start` or `end`.
        field: &'static str,
        /// The expression.
        expr: String,
        /// What is wrong.
        why: String,
    },
    /// desiredReplicas is not a positive integer.
    #[error("cron trigger: desiredReplicas {0:?} is not a positive integer")]
    BadDesiredReplicas(String),
    /// The time zone could not be loaded.
    #[error("cron trigger: {0}")]
    TimeZone(#[from] TzError),
    /// No matching minute within the search horizon (e.g. February 30).
    #[error("cron trigger: {0:?} never fires")]
    NeverFires(String),
}

/// A parsed five-field cron schedule (bit sets per field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    dom_star: bool,
    dow_star: bool,
    source: String,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn parse_value(s: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + offset);
    }
    s.parse::<u32>()
        .map_err(|_| format!("failed to parse int from {s}"))
}

fn parse_field(
    field: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_offset: u32,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                Some(
                    s.parse::<u32>()
                        .map_err(|_| format!("failed to parse int from {s}"))?,
                ),
            ),
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            star = step.is_none();
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                parse_value(a, names, name_offset)?,
                parse_value(b, names, name_offset)?,
            )
        } else {
            let v = parse_value(range, names, name_offset)?;
            (v, if step.is_some() { max } else { v })
        };
        let step = step.unwrap_or(1);
        if step == 0 {
            return Err("step of range should be a positive number".into());
        }
        if lo < min || hi > max || lo > hi {
            return Err(format!("value out of range ({min} to {max}): {part}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            // A step near u32::MAX must end the range, not wrap around.
            let Some(next) = v.checked_add(step) else {
                break;
            };
            v = next;
        }
    }
    Ok((bits, star))
}

impl CronSchedule {
    /// Parses a standard cron expression.
    ///
    /// # Errors
    /// A message naming the problem (wrong field count, bad value or range).
    pub fn parse(expr: &str) -> Result<Self, String> {
        let trimmed = expr.trim();
        let spec = match trimmed {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!("expected exactly 5 fields, found {}", fields.len()));
        }
        let (minute, _) = parse_field(fields[0], 0, 59, &[], 0)?;
        let (hour, _) = parse_field(fields[1], 0, 23, &[], 0)?;
        let (dom, dom_star) = parse_field(fields[2], 1, 31, &[], 0)?;
        let (month, _) = parse_field(fields[3], 1, 12, &MONTHS, 1)?;
        let (dow, dow_star) = parse_field(fields[4], 0, 6, &DAYS, 0)?;
        Ok(CronSchedule {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
            source: expr.to_string(),
        })
    }

    /// The first matching minute strictly after `utc_s`, in seconds since the epoch,
    /// evaluated on the wall clock of `tz` (robfig/cron `Schedule.Next`).
    ///
    /// # Errors
    /// [`CronError::NeverFires`] if nothing matches within eight years.
    pub fn next_after(&self, utc_s: i64, tz: &TimeZone) -> Result<i64, CronError> {
        let mut t = utc_s.div_euclid(60) * 60 + 60;
        let horizon = utc_s + 8 * 366 * 86_400;
        while t <= horizon {
            let local = t + i64::from(tz.offset_at(t));
            let c = civil_from_seconds(local);
            let into_day = local.rem_euclid(86_400);
            if self.month & (1 << c.month) == 0 {
                // Jump to the first day of the next month.
                let (y, m) = if c.month == 12 {
                    (c.year + 1, 1)
                } else {
                    (c.year, c.month + 1)
                };
                let next = crate::tz::days_from_civil(y, m, 1) * 86_400;
                t += next - local;
                continue;
            }
            if !self.day_matches(c.day, c.weekday) {
                t += 86_400 - into_day;
                continue;
            }
            if self.hour & (1 << c.hour) == 0 {
                t += 3600 - into_day % 3600;
                continue;
            }
            if self.minute & (1 << c.minute) == 0 {
                t += 60;
                continue;
            }
            return Ok(t);
        }
        Err(CronError::NeverFires(self.source.clone()))
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let dom = self.dom & (1 << day) != 0;
        let dow = self.dow & (1 << weekday) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }
}

/// The next start and end of one [`CronTrigger`] as last computed, for
/// replays that ask at times that never go back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CronCursor {
    at: i64,
    next_start: Option<i64>,
    next_end: Option<i64>,
}

impl CronCursor {
    /// The time until which [`CronTrigger::is_active_at`], asked at any
    /// later time from the last one asked, answers as it did then without
    /// computing anything: the earlier of the next start and the next end
    /// (`None` before the first question).
    pub fn unchanged_until(&self) -> Option<i64> {
        Some(self.next_start?.min(self.next_end?))
    }
}

/// A KEDA cron trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronTrigger {
    /// IANA time zone name.
    pub timezone: String,
    /// Start expression.
    pub start: String,
    /// End expression.
    pub end: String,
    /// Replicas inside the window; `None` uses maxReplicaCount inside and
    /// minReplicaCount outside (newer KEDA).
    pub desired_replicas: Option<i64>,
    tz: TimeZone,
    start_schedule: CronSchedule,
    end_schedule: CronSchedule,
}

impl CronTrigger {
    /// Builds a trigger from its metadata (`timezone`, `start`, `end`,
    /// `desiredReplicas`), validating it as `parseCronMetadata` does.
    ///
    /// # Errors
    /// [`CronError`] for a missing key, equal start and end, a bad expression, a bad
    /// replica count or an unknown time zone.
    pub fn from_metadata(meta: &BTreeMap<String, String>) -> Result<Self, CronError> {
        let get = |k: &'static str| {
            meta.get(k)
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .ok_or(CronError::Missing(k))
        };
        let timezone = get("timezone")?.to_string();
        let start = get("start")?.to_string();
        let end = get("end")?.to_string();
        if start == end {
            return Err(CronError::SameStartEnd);
        }
        let start_schedule =
            CronSchedule::parse(&start).map_err(|why| CronError::BadExpression {
                field: "start",
                expr: start.clone(),
                why,
            })?;
        let end_schedule = CronSchedule::parse(&end).map_err(|why| CronError::BadExpression {
            field: "end",
            expr: end.clone(),
            why,
        })?;
        let desired_replicas = match meta.get("desiredReplicas") {
            None => None,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(v) if v > 0 => Some(v),
                _ => return Err(CronError::BadDesiredReplicas(s.clone())),
            },
        };
        let tz = TimeZone::load(&timezone)?;
        Ok(CronTrigger {
            timezone,
            start,
            end,
            desired_replicas,
            tz,
            start_schedule,
            end_schedule,
        })
    }

    /// Whether `utc_s` lies inside the window: the next end comes no later than the
    /// next start (`GetMetricsAndActivity`).
    ///
    /// # Errors
    /// [`CronError::NeverFires`] for a schedule that never matches.
    pub fn is_active(&self, utc_s: i64) -> Result<bool, CronError> {
        let next_start = self.start_schedule.next_after(utc_s, &self.tz)?;
        let next_end = self.end_schedule.next_after(utc_s, &self.tz)?;
        Ok(!(next_start < next_end && utc_s < next_start) && utc_s <= next_end)
    }

    /// The first start and the first end strictly after `utc_s`'s minute
    /// (seconds since the epoch), on the zone's wall clock: the instants
    /// at which [`CronTrigger::is_active`] next changes are among these.
    ///
    /// # Errors
    /// As [`CronTrigger::is_active`].
    pub fn next_start_end(&self, utc_s: i64) -> Result<(i64, i64), CronError> {
        Ok((
            self.start_schedule.next_after(utc_s, &self.tz)?,
            self.end_schedule.next_after(utc_s, &self.tz)?,
        ))
    }

    /// [`CronTrigger::is_active`] for a replay that asks at times that never
    /// go back: `cursor` keeps the next start and end, which stay the answer
    /// of `next_after` until `utc_s` reaches them, so most calls compute
    /// nothing. Same answer as `is_active` (a test sweeps both).
    ///
    /// # Errors
    /// As [`CronTrigger::is_active`].
    pub fn is_active_at(&self, utc_s: i64, cursor: &mut CronCursor) -> Result<bool, CronError> {
        // `next_after(t)` is the first matching minute after t's minute; it
        // stays the same for every later t before it.
        let kept = |next: Option<i64>| next.filter(|n| utc_s >= cursor.at && utc_s < *n);
        let next_start = match kept(cursor.next_start) {
            Some(n) => n,
            None => self.start_schedule.next_after(utc_s, &self.tz)?,
        };
        let next_end = match kept(cursor.next_end) {
            Some(n) => n,
            None => self.end_schedule.next_after(utc_s, &self.tz)?,
        };
        *cursor = CronCursor {
            at: utc_s,
            next_start: Some(next_start),
            next_end: Some(next_end),
        };
        Ok(!(next_start < next_end && utc_s < next_start) && utc_s <= next_end)
    }

    /// The metric value and activity at `utc_s`, given the ScaledObject's replica bounds.
    ///
    /// # Errors
    /// As [`CronTrigger::is_active`].
    pub fn metric_and_activity(
        &self,
        utc_s: i64,
        min_replica_count: i64,
        max_replica_count: i64,
    ) -> Result<(i64, bool), CronError> {
        let active = self.is_active(utc_s)?;
        Ok(self.value(active, min_replica_count, max_replica_count))
    }

    /// [`CronTrigger::metric_and_activity`] through a [`CronCursor`] (times
    /// that never go back).
    ///
    /// # Errors
    /// As [`CronTrigger::is_active`].
    pub fn metric_and_activity_at(
        &self,
        utc_s: i64,
        cursor: &mut CronCursor,
        min_replica_count: i64,
        max_replica_count: i64,
    ) -> Result<(i64, bool), CronError> {
        let active = self.is_active_at(utc_s, cursor)?;
        Ok(self.value(active, min_replica_count, max_replica_count))
    }

    fn value(&self, active: bool, min_replica_count: i64, max_replica_count: i64) -> (i64, bool) {
        let value = match (active, self.desired_replicas) {
            (true, Some(d)) => d,
            (true, None) => max_replica_count,
            (false, Some(_)) => CRON_DEFAULT_DESIRED_REPLICAS,
            (false, None) => min_replica_count,
        };
        (value, active)
    }

    /// The external metric name KEDA gives trigger `index`
    /// (`s{index}-cron-{timezone}-{start}-{end}`, normalized).
    pub fn metric_name(&self, index: usize) -> String {
        let compact = |e: &str| {
            e.replace(' ', "")
                .replace('*', "x")
                .replace('/', "Sl")
                .replace('?', "X")
        };
        let raw = format!(
            "cron-{}-{}-{}",
            self.timezone,
            compact(&self.start),
            compact(&self.end)
        );
        let normalized: String = raw
            .chars()
            .map(|c| {
                if matches!(c, '/' | '.' | ':' | '%') {
                    '-'
                } else {
                    c
                }
            })
            .collect();
        format!("s{index}-{normalized}")
    }
}

/// KEDA ScaledObject settings that the model uses.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSettings {
    /// minReplicaCount (0 enables scale to zero).
    pub min_replica_count: i32,
    /// maxReplicaCount.
    pub max_replica_count: i32,
    /// cooldownPeriod, seconds (default 300).
    pub cooldown_period_s: i64,
}

/// What the scale executor does with the target this poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Activation {
    /// Leave it to the HPA.
    HpaControls,
    /// Scale the target from 0 to this count.
    Activate(i32),
    /// Scale the target to zero.
    ScaleToZero,
    /// Keep it at zero.
    StayAtZero,
    /// Raise it to minReplicaCount.
    RaiseToMin(i32),
}

/// The scale executor's memory: when a trigger was last active.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ScaleExecutor {
    /// Last time (seconds) any trigger was active.
    pub last_active_s: Option<i64>,
}

impl ScaleExecutor {
    /// One poll (`RequestScale`): `active` is whether any trigger is active now.
    pub fn poll(
        &mut self,
        settings: &ScaledObjectSettings,
        current_replicas: i32,
        active: bool,
        now_s: i64,
    ) -> Activation {
        if active {
            self.last_active_s = Some(now_s);
            if current_replicas == 0 {
                return Activation::Activate(settings.min_replica_count.max(1));
            }
            return Activation::HpaControls;
        }
        if current_replicas == 0 {
            return if settings.min_replica_count > 0 {
                Activation::RaiseToMin(settings.min_replica_count)
            } else {
                Activation::StayAtZero
            };
        }
        if settings.min_replica_count == 0 {
            let cooled = match self.last_active_s {
                Some(t) => now_s - t >= settings.cooldown_period_s,
                None => true,
            };
            if cooled {
                return Activation::ScaleToZero;
            }
            return Activation::HpaControls;
        }
        if current_replicas < settings.min_replica_count {
            return Activation::RaiseToMin(settings.min_replica_count);
        }
        Activation::HpaControls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cron_steps_at_the_boundaries_never_wrap_or_loop() {
        // 0, 1, max, max+1 and the u32 end for a step; each parses or is
        // refused at once (a step near u32::MAX used to wrap and loop).
        assert!(CronSchedule::parse("*/0 * * * *").is_err());
        let one = CronSchedule::parse("*/1 * * * *").expect("every minute");
        let five = CronSchedule::parse("5 * * * *").expect("minute 5");
        let big = CronSchedule::parse("5/4294967295 * * * *").expect("minute 5 only");
        let max = CronSchedule::parse("5/4294967294 * * * *").expect("minute 5 only");
        assert_eq!((big.minute, max.minute), (five.minute, five.minute));
        assert_ne!(one.minute, big.minute);
        assert!(CronSchedule::parse("5/4294967296 * * * *").is_err());
        assert!(CronSchedule::parse("5/-1 * * * *").is_err());
        assert!(CronSchedule::parse("0 0/4294967295 * * *").is_ok());
    }

    #[test]
    fn the_cursor_gives_is_actives_answer_at_every_sync() {
        // Windows across midnight, on weekdays, every 20 minutes and around
        // Berlin's DST changes (2024-03-31 and 2024-10-27), at the replay's
        // 15 s syncs and at uneven steps of 7 to 3,607 s.
        let cases = [
            ("Europe/Berlin", "30 1 * * *", "30 3 * * *"),
            ("Europe/Berlin", "0 22 * * *", "15 2 * * *"),
            ("America/New_York", "0 9 * * 1-5", "0 17 * * 1-5"),
            ("UTC", "*/20 * * * *", "10,30,50 * * * *"),
            ("Asia/Kolkata", "45 23 * * 6", "5 0 * * 0"),
        ];
        for (start_day, days) in [((2024, 3, 28), 6), ((2024, 10, 24), 6)] {
            let (y, m, d) = start_day;
            let from = crate::tz::days_from_civil(y, m, d) * 86_400 - 7;
            for (tz, start, end) in cases {
                let t = CronTrigger::from_metadata(&meta(&[
                    ("timezone", tz),
                    ("start", start),
                    ("end", end),
                ]))
                .expect("valid trigger");
                for steps in [[15_i64, 15, 15], [7, 3_607, 61]] {
                    let mut cursor = CronCursor::default();
                    let mut at = from;
                    let mut i = 0;
                    while at < from + days * 86_400 {
                        assert_eq!(
                            t.is_active_at(at, &mut cursor).expect("fires"),
                            t.is_active(at).expect("fires"),
                            "{tz} {start} / {end} at {at}"
                        );
                        at += steps[i % 3];
                        i += 1;
                    }
                }
            }
        }
    }

    #[test]
    fn business_hours_window_in_kolkata() {
        let t = CronTrigger::from_metadata(&meta(&[
            ("timezone", "Asia/Kolkata"),
            ("start", "0 9 * * *"),
            ("end", "0 17 * * *"),
            ("desiredReplicas", "5"),
        ]))
        .expect("valid trigger");
        // 2024-01-04 04:00 UTC = 09:30 IST -> inside; 12:00 UTC = 17:30 IST -> outside
        let day = crate::tz::days_from_civil(2024, 1, 4) * 86_400;
        assert!(t.is_active(day + 4 * 3600).expect("fires"));
        assert!(!t.is_active(day + 12 * 3600).expect("fires"));
        assert_eq!(
            t.metric_and_activity(day + 12 * 3600, 0, 10)
                .expect("fires"),
            (1, false)
        );
    }

    #[test]
    fn scale_to_zero_waits_for_cooldown() {
        let s = ScaledObjectSettings {
            min_replica_count: 0,
            max_replica_count: 10,
            cooldown_period_s: 300,
        };
        let mut e = ScaleExecutor::default();
        assert_eq!(e.poll(&s, 3, true, 0), Activation::HpaControls);
        assert_eq!(e.poll(&s, 3, false, 299), Activation::HpaControls);
        assert_eq!(e.poll(&s, 3, false, 300), Activation::ScaleToZero);
        assert_eq!(e.poll(&s, 0, true, 400), Activation::Activate(1));
    }

    #[test]
    fn bad_expressions_are_rejected() {
        assert!(CronSchedule::parse("-50 * * * *").is_err());
        assert!(CronSchedule::parse("61 * * * *").is_err());
        assert!(CronSchedule::parse("0 */2 * * Thu").is_ok());
    }
}
