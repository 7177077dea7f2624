//! Window arithmetic: a schedule's windows as KEDA cron triggers, and the
//! floor a schedule asks for at an instant.
//!
//! A window is `start`–`end` in the schedule's IANA time zone, every day or
//! on one weekday; a window whose end is not after its start runs past
//! midnight into the next day. Each window is one KEDA `cron` trigger
//! (`start`/`end` five-field expressions on the zone's wall clock), and the
//! operator evaluates HPA floors with the same trigger semantics as KEDA
//! (the HPA model's [`CronTrigger`]), so a schedule means the same on both
//! kinds:
//! - a window is active from its start instant up to, not including, its end;
//! - daylight saving: a start or end at a wall-clock time the day skips
//!   (spring forward) does not happen that day, as in KEDA's cron library;
//!   since KEDA calls a window active whenever its next end comes before its
//!   next start, a skipped start would hold the floor up from the previous
//!   day's end. Sized windows therefore never start or end inside a gap
//!   ([`outside_gaps`] moves the bound to the first minute after it). A time
//!   the day repeats happens at its first occurrence.

use std::collections::BTreeMap;

use stepscale_hpa::keda::CronTrigger;

use super::{PredictiveSchedule, ScheduleWindow};

/// A schedule that cannot be applied as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A window's bounds, weekday or floor are invalid.
    #[error("schedule window {index}: {problem}")]
    Window {
        /// 0-based index of the window.
        index: usize,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The time zone or a cron expression was refused.
    #[error("schedule: {0}")]
    Cron(String),
}

/// Minutes after midnight of an `HH:MM` window bound (`00:00`..=`24:00`).
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

/// KEDA's weekday number (robfig cron: 0 = Sunday) of our `day_of_week`
/// (0 = Monday).
fn cron_weekday(day_of_week: u8) -> u8 {
    (day_of_week + 1) % 7
}

/// The metadata of the KEDA `cron` trigger of window `index`: `timezone`,
/// `start`, `end`, `desiredReplicas`.
///
/// # Errors
/// [`ScheduleError::Window`] for unparseable bounds, equal start and end, a
/// weekday above 6 or a floor of 0.
pub fn cron_metadata(
    timezone: &str,
    index: usize,
    w: &ScheduleWindow,
) -> Result<BTreeMap<String, String>, ScheduleError> {
    let bad = |problem: String| ScheduleError::Window { index, problem };
    let bound = |s: &str| {
        parse_hhmm(s)
            .map(|m| m % 1440)
            .ok_or_else(|| bad(format!("{s:?} is not HH:MM (00:00 to 24:00)")))
    };
    let (start, end) = (bound(&w.start)?, bound(&w.end)?);
    if start == end {
        return Err(bad(format!(
            "starts and ends at {}; give a window of at least one minute",
            w.start
        )));
    }
    if w.replica_floor == 0 {
        return Err(bad(
            "a replica floor of 0 raises nothing; use 1 or more".into()
        ));
    }
    let (start_dow, end_dow) = match w.day_of_week {
        None => ("*".to_string(), "*".to_string()),
        Some(d) if d <= 6 => {
            // A window that runs past midnight ends on the next day.
            let end_day = if end > start { d } else { (d + 1) % 7 };
            (
                cron_weekday(d).to_string(),
                cron_weekday(end_day).to_string(),
            )
        }
        Some(d) => {
            return Err(bad(format!(
                "dayOfWeek {d} is not 0 (Monday) to 6 (Sunday)"
            )))
        }
    };
    let cron = |m: u32, dow: &str| format!("{} {} * * {dow}", m % 60, m / 60);
    Ok(BTreeMap::from([
        ("timezone".to_string(), timezone.to_string()),
        ("start".to_string(), cron(start, &start_dow)),
        ("end".to_string(), cron(end, &end_dow)),
        ("desiredReplicas".to_string(), w.replica_floor.to_string()),
    ]))
}

/// `minute` (local minute of the day) moved past any daylight-saving gap
/// of `tz` that contains it in the year from `from_utc_s`: the first
/// minute that exists on the day clocks jump forward.
pub fn outside_gaps(tz: &stepscale_hpa::tz::TimeZone, minute: u32, from_utc_s: i64) -> u32 {
    let mut m = minute % 1440;
    for (skipped, first) in tz.gaps_between(from_utc_s, from_utc_s + 366 * 86_400) {
        let a = (skipped.rem_euclid(86_400) / 60) as u32;
        let len = ((first - skipped) / 60) as u32;
        if (m + 1440 - a) % 1440 < len {
            m = (a + len) % 1440;
        }
    }
    m
}

/// Every window of `schedule` as a KEDA cron trigger, in window order.
///
/// # Errors
/// [`ScheduleError`] for an invalid window or an unknown time zone.
pub fn triggers(schedule: &PredictiveSchedule) -> Result<Vec<CronTrigger>, ScheduleError> {
    schedule
        .windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let meta = cron_metadata(&schedule.timezone, i, w)?;
            CronTrigger::from_metadata(&meta).map_err(|e| ScheduleError::Cron(e.to_string()))
        })
        .collect()
}

/// What a schedule asks of the floor at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorAt {
    /// The active window with the highest floor (index), if any.
    pub window: Option<usize>,
    /// The floor: the highest active window's floor, never below the
    /// baseline.
    pub floor: u32,
    /// When the answer next changes (a window starts or ends), Unix seconds.
    pub next_transition: Option<i64>,
}

/// The floor `schedule` (as `triggers`, from [`triggers`]) asks for at
/// `utc_s` over a `baseline` minReplicas.
///
/// # Errors
/// [`ScheduleError::Cron`] when a trigger never fires.
pub fn floor_at(
    schedule: &PredictiveSchedule,
    triggers: &[CronTrigger],
    baseline: u32,
    utc_s: i64,
) -> Result<FloorAt, ScheduleError> {
    let cron = |e: stepscale_hpa::keda::CronError| ScheduleError::Cron(e.to_string());
    let mut at = FloorAt {
        window: None,
        floor: baseline,
        next_transition: None,
    };
    let mut highest = 0;
    for (i, (t, w)) in triggers.iter().zip(&schedule.windows).enumerate() {
        let active = t.is_active(utc_s).map_err(cron)?;
        let (next_start, next_end) = t.next_start_end(utc_s).map_err(cron)?;
        let next = if active { next_end } else { next_start };
        at.next_transition = Some(at.next_transition.map_or(next, |n: i64| n.min(next)));
        if active && w.replica_floor > highest {
            highest = w.replica_floor;
            at.window = Some(i);
        }
    }
    at.floor = baseline.max(highest);
    Ok(at)
}

/// The instants `[start, end)` at which some window of `schedule` is
/// active between `from` and `to` (Unix seconds), per window, in order.
///
/// # Errors
/// As [`triggers`], or [`ScheduleError::Cron`] when a trigger never fires.
pub fn active_intervals(
    schedule: &PredictiveSchedule,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, ScheduleError> {
    let cron = |e: stepscale_hpa::keda::CronError| ScheduleError::Cron(e.to_string());
    let mut out = Vec::new();
    for t in triggers(schedule)? {
        let mut open = t.is_active(from).map_err(cron)?.then_some(from);
        let mut at = from;
        while at < to {
            let (next_start, next_end) = t.next_start_end(at).map_err(cron)?;
            match open {
                Some(s) => {
                    out.push((s, next_end.min(to)));
                    open = None;
                    at = next_end;
                }
                None => {
                    open = (next_start < to).then_some(next_start);
                    at = next_start;
                }
            }
        }
    }
    Ok(out)
}

/// `08:55–10:00 ≥6` (with the weekday when the window has one).
pub fn describe_window(schedule: &PredictiveSchedule, index: usize) -> Option<String> {
    let w = schedule.windows.get(index)?;
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let day = w
        .day_of_week
        .and_then(|d| DAYS.get(usize::from(d)))
        .map(|d| format!("{d} "))
        .unwrap_or_default();
    Some(format!("{day}{}–{} ≥{}", w.start, w.end, w.replica_floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(day: Option<u8>, start: &str, end: &str, floor: u32) -> ScheduleWindow {
        ScheduleWindow {
            day_of_week: day,
            start: start.into(),
            end: end.into(),
            replica_floor: floor,
        }
    }

    fn schedule(tz: &str, windows: Vec<ScheduleWindow>) -> PredictiveSchedule {
        PredictiveSchedule {
            timezone: tz.into(),
            lead_minutes: 5,
            max_replicas_needed: None,
            history: None,
            windows,
        }
    }

    fn at(rfc3339: &str) -> i64 {
        rfc3339
            .parse::<jiff::Timestamp>()
            .expect("timestamp")
            .as_second()
    }

    fn floor(s: &PredictiveSchedule, t: &str) -> FloorAt {
        let tr = triggers(s).expect("valid schedule");
        floor_at(s, &tr, 2, at(t)).expect("fires")
    }

    #[test]
    fn a_daily_window_is_active_from_its_start_up_to_its_end() {
        let s = schedule("UTC", vec![window(None, "08:55", "10:00", 6)]);
        assert_eq!(floor(&s, "2026-06-01T08:54:59Z").floor, 2);
        let inside = floor(&s, "2026-06-01T08:55:00Z");
        assert_eq!((inside.window, inside.floor), (Some(0), 6));
        assert_eq!(inside.next_transition, Some(at("2026-06-01T10:00:00Z")));
        assert_eq!(floor(&s, "2026-06-01T09:59:59Z").floor, 6);
        let after = floor(&s, "2026-06-01T10:00:00Z");
        assert_eq!((after.window, after.floor), (None, 2));
        assert_eq!(after.next_transition, Some(at("2026-06-02T08:55:00Z")));
    }

    #[test]
    fn a_window_across_midnight_ends_the_next_day() {
        let s = schedule("UTC", vec![window(None, "23:00", "01:30", 4)]);
        assert_eq!(floor(&s, "2026-06-01T23:30:00Z").floor, 4);
        assert_eq!(floor(&s, "2026-06-02T01:00:00Z").floor, 4);
        assert_eq!(floor(&s, "2026-06-02T01:30:00Z").floor, 2);
        assert_eq!(floor(&s, "2026-06-02T22:59:00Z").floor, 2);
    }

    #[test]
    fn a_sunday_window_across_midnight_ends_on_monday_and_not_on_other_days() {
        // 2026-06-07 is a Sunday.
        let s = schedule("UTC", vec![window(Some(6), "22:00", "02:00", 5)]);
        let meta = cron_metadata("UTC", 0, &s.windows[0]).expect("valid");
        assert_eq!(meta["start"], "0 22 * * 0");
        assert_eq!(meta["end"], "0 2 * * 1");
        assert_eq!(floor(&s, "2026-06-07T23:00:00Z").floor, 5);
        assert_eq!(floor(&s, "2026-06-08T01:59:00Z").floor, 5);
        assert_eq!(floor(&s, "2026-06-08T02:00:00Z").floor, 2);
        // Saturday night is not inside.
        assert_eq!(floor(&s, "2026-06-06T23:00:00Z").floor, 2);
        assert_eq!(
            floor(&s, "2026-06-08T02:00:00Z").next_transition,
            Some(at("2026-06-14T22:00:00Z"))
        );
    }

    #[test]
    fn overlapping_windows_take_the_highest_floor_and_never_lower_the_baseline() {
        let s = schedule(
            "UTC",
            vec![
                window(None, "08:00", "12:00", 3),
                window(None, "09:00", "10:00", 7),
                window(None, "09:00", "11:00", 1),
            ],
        );
        let f = floor(&s, "2026-06-01T09:30:00Z");
        assert_eq!((f.window, f.floor), (Some(1), 7));
        assert_eq!(f.next_transition, Some(at("2026-06-01T10:00:00Z")));
        // Only the floor-1 window and the floor-3 one: 3.
        assert_eq!(floor(&s, "2026-06-01T10:30:00Z").floor, 3);
    }

    #[test]
    fn windows_follow_local_time_across_daylight_saving_changes() {
        // Berlin: UTC+1 until 2026-03-29 01:00 UTC, UTC+2 after.
        let s = schedule("Europe/Berlin", vec![window(None, "08:00", "10:00", 6)]);
        assert_eq!(floor(&s, "2026-03-28T07:00:00Z").floor, 6);
        assert_eq!(floor(&s, "2026-03-28T06:30:00Z").floor, 2);
        // After the change the same local window is an hour earlier in UTC.
        assert_eq!(floor(&s, "2026-03-30T06:00:00Z").floor, 6);
        assert_eq!(floor(&s, "2026-03-30T08:00:00Z").floor, 2);
        // The next transition seen on the day before the change is the
        // start on the day of the change, at UTC+2.
        assert_eq!(
            floor(&s, "2026-03-28T12:00:00Z").next_transition,
            Some(at("2026-03-29T06:00:00Z"))
        );
    }

    #[test]
    fn a_start_in_the_skipped_hour_holds_the_window_from_the_day_before_so_sizing_avoids_it() {
        // 02:30 does not exist in Berlin on 2026-03-29. KEDA's rule (active
        // while the next end comes before the next start) then holds the
        // window from the 28th's end until the 29th's end.
        let s = schedule("Europe/Berlin", vec![window(None, "02:30", "04:00", 6)]);
        assert_eq!(floor(&s, "2026-03-27T12:00:00Z").floor, 2);
        assert_eq!(floor(&s, "2026-03-28T12:00:00Z").floor, 6);
        // Hence sized bounds move past the gap: 02:30 → 03:00 in Berlin.
        let berlin = stepscale_hpa::tz::TimeZone::load("Europe/Berlin").expect("tz database");
        let from = at("2026-01-01T00:00:00Z");
        assert_eq!(outside_gaps(&berlin, 150, from), 180);
        assert_eq!(outside_gaps(&berlin, 120, from), 180);
        assert_eq!(outside_gaps(&berlin, 179, from), 180);
        assert_eq!(outside_gaps(&berlin, 180, from), 180);
        assert_eq!(outside_gaps(&berlin, 119, from), 119);
        assert_eq!(
            outside_gaps(&stepscale_hpa::tz::TimeZone::utc(), 150, from),
            150
        );
        let moved = schedule("Europe/Berlin", vec![window(None, "03:00", "04:00", 6)]);
        assert_eq!(floor(&moved, "2026-03-28T12:00:00Z").floor, 2);
        assert_eq!(floor(&moved, "2026-03-29T01:30:00Z").floor, 6);
    }

    #[test]
    fn active_intervals_list_each_day_of_a_window_within_the_span() {
        let s = schedule("UTC", vec![window(None, "23:00", "01:00", 4)]);
        let got = active_intervals(&s, at("2026-06-01T00:30:00Z"), at("2026-06-02T23:30:00Z"))
            .expect("valid");
        assert_eq!(
            got,
            [
                (at("2026-06-01T00:30:00Z"), at("2026-06-01T01:00:00Z")),
                (at("2026-06-01T23:00:00Z"), at("2026-06-02T01:00:00Z")),
                (at("2026-06-02T23:00:00Z"), at("2026-06-02T23:30:00Z")),
            ]
        );
    }

    #[test]
    fn invalid_windows_say_what_to_fix() {
        for (w, says) in [
            (window(None, "08:00", "08:00", 3), "at least one minute"),
            (window(None, "8h", "09:00", 3), "HH:MM"),
            (window(None, "08:00", "24:01", 3), "HH:MM"),
            (window(Some(7), "08:00", "09:00", 3), "dayOfWeek 7"),
            (window(None, "08:00", "09:00", 0), "floor of 0"),
        ] {
            let e = cron_metadata("UTC", 0, &w).expect_err("invalid");
            assert!(e.to_string().contains(says), "{e}");
        }
        let e = triggers(&schedule(
            "Mars/Olympus",
            vec![window(None, "08:00", "09:00", 3)],
        ))
        .expect_err("unknown zone");
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
    }
}
