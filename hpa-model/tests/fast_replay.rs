//! The fast replay (pods held as runs, kept syncs fast-forwarded) gives
//! exactly the reference replay's report — trajectory included — on real
//! NAB series, under plain HPAs, behaviors with windows and policies,
//! scale-to-zero KEDA ScaledObjects, ScaledObjects with a floor, and cron
//! floors (one, or two that overlap). Demand is each series scaled as
//! documented per case.

use std::path::PathBuf;

use stepscale_hpa::model::{Behavior, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy};
use stepscale_hpa::series::load_csv_series;
use stepscale_hpa::simulate::fast::{simulate_runs_bounded, CHECK_EVERY_S};
use stepscale_hpa::simulate::{
    same_replay_with_policies, simulate, simulate_reference, AutoscalerConfig, Bounded, CronFloor,
    DemandSeries, KedaConfig, SimOptions,
};

/// The first `days` days of a NAB series, `value × scale` cores.
fn nab(name: &str, days: i64, scale: f64) -> DemandSeries {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/traces/nab")
        .join(name);
    let s = load_csv_series(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let step = s.typical_step_s();
    let (start, values) = s.regular(step);
    let n = values.len().min((days * 86_400 / step) as usize);
    DemandSeries::from_cpu_cores(start, step, values[..n].iter().map(|v| v * scale).collect())
}

fn configs() -> Vec<(&'static str, AutoscalerConfig)> {
    let plain = AutoscalerConfig::cpu(2, 40, 70, 0.5);
    let mut windows = AutoscalerConfig::cpu(1, 30, 60, 0.5);
    windows.behavior = Some(Behavior {
        scale_up: Some(ScalingRules {
            stabilization_window_seconds: Some(60),
            select_policy: Some(SelectPolicy::Max),
            policies: vec![ScalingPolicy {
                kind: PolicyType::Pods,
                value: 2,
                period_seconds: 60,
            }],
        }),
        scale_down: Some(ScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some(SelectPolicy::Min),
            policies: vec![ScalingPolicy {
                kind: PolicyType::Percent,
                value: 50,
                period_seconds: 30,
            }],
        }),
    });
    // Long windows in both directions: the fast replay keeps them as
    // sliding-window queues, the reference scans every recommendation.
    let mut long_windows = AutoscalerConfig::cpu(1, 30, 70, 0.5);
    long_windows.behavior = Some(Behavior {
        scale_up: Some(ScalingRules {
            stabilization_window_seconds: Some(120),
            select_policy: None,
            policies: vec![],
        }),
        scale_down: Some(ScalingRules {
            stabilization_window_seconds: Some(1800),
            select_policy: None,
            policies: vec![],
        }),
    });
    // A narrow range, so the count sits at its floor and at its ceiling
    // for long stretches (the fast replay keeps the count there without
    // normalizing).
    let mut pinned = AutoscalerConfig::cpu(4, 8, 70, 0.5);
    pinned.behavior = Some(Behavior {
        scale_up: None,
        scale_down: Some(ScalingRules {
            stabilization_window_seconds: Some(300),
            select_policy: None,
            policies: vec![],
        }),
    });
    let pinned_legacy = AutoscalerConfig::cpu(4, 8, 70, 0.5);
    let mut to_zero = AutoscalerConfig::cpu(0, 20, 80, 0.5);
    to_zero.keda = Some(KedaConfig {
        min_replica_count: 0,
        cooldown_period_s: 120,
        activation_cores: 1.0,
        cron_floors: vec![],
    });
    let mut cron = AutoscalerConfig::cpu(2, 40, 85, 0.5);
    cron.keda = Some(KedaConfig {
        min_replica_count: 2,
        cooldown_period_s: 300,
        activation_cores: 0.0,
        cron_floors: vec![CronFloor {
            timezone: "UTC".into(),
            start: "0 8 * * *".into(),
            end: "30 11 * * *".into(),
            desired_replicas: 12,
        }],
    });
    // Two floors that overlap, one on a half-hour zone's wall clock, over
    // a ScaledObject that never scales to zero: the fast replay
    // fast-forwards its kept syncs between the floors' starts and ends.
    let mut crons = AutoscalerConfig::cpu(1, 30, 70, 0.5);
    crons.keda = Some(KedaConfig {
        min_replica_count: 1,
        cooldown_period_s: 300,
        activation_cores: 0.0,
        cron_floors: vec![
            CronFloor {
                timezone: "Asia/Kolkata".into(),
                start: "30 9 * * 1-5".into(),
                end: "0 17 * * 1-5".into(),
                desired_replicas: 6,
            },
            CronFloor {
                timezone: "UTC".into(),
                start: "0 */6 * * *".into(),
                end: "45 */6 * * *".into(),
                desired_replicas: 9,
            },
        ],
    });
    // A ScaledObject with a floor and no cron trigger.
    let mut keda_floor = AutoscalerConfig::cpu(3, 30, 60, 0.5);
    keda_floor.keda = Some(KedaConfig {
        min_replica_count: 3,
        cooldown_period_s: 300,
        activation_cores: 0.0,
        cron_floors: vec![],
    });
    vec![
        ("plain HPA", plain),
        ("behavior windows and policies", windows),
        ("long stabilization windows", long_windows),
        ("pinned at floor and ceiling", pinned),
        ("pinned, no behavior", pinned_legacy),
        ("KEDA scale to zero", to_zero),
        ("KEDA cron floor", cron),
        ("KEDA overlapping cron floors", crons),
        ("KEDA floor, no cron", keda_floor),
    ]
}

#[test]
fn the_fast_replay_equals_the_reference_on_real_series() {
    let series = [
        // passengers per 30 min / 2000 = cores (peaks ~15 cores)
        ("nyc_taxi", nab("nyc_taxi.csv", 7, 1.0 / 2000.0)),
        // CPU % of 8 × 0.5-core pods
        (
            "asg",
            nab("cpu_utilization_asg_misconfiguration.csv", 5, 0.04),
        ),
        // requests per 5 min / 100 per core
        ("elb", nab("elb_request_count_8c0756.csv", 7, 0.01)),
        // bursty EC2 CPU % of 10 × 0.5-core pods
        ("ac20cd", nab("ec2_cpu_utilization_ac20cd.csv", 7, 0.05)),
    ];
    let default = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    // A shorter metric window than the sync grid divides evenly, a slower
    // start-up and a CPU initialization period that ends between syncs.
    let mut other = default.clone();
    other.metric_window_s = 40;
    other.pod_startup_s = 95;
    other.controller.cpu_initialization_period_ms = 100_500;

    // Without a trajectory the fast replay also fast-forwards the syncs
    // at which the controller keeps its count.
    let untraced = |o: &SimOptions| SimOptions {
        record_trajectory: false,
        ..o.clone()
    };
    for (oname, options) in [
        ("default options", &default),
        ("other options", &other),
        ("default options, no trajectory", &untraced(&default)),
        ("other options, no trajectory", &untraced(&other)),
    ] {
        for (sname, s) in &series {
            for (cname, c) in configs() {
                let fast = simulate(s, &c, options).expect("fast replay");
                let reference = simulate_reference(s, &c, options).expect("reference replay");
                assert!(
                    fast.scale_events > 0,
                    "{sname} / {cname}: the case must exercise scaling"
                );
                assert_eq!(fast, reference, "{sname} / {cname} / {oname}");
            }
        }
    }
}

/// A bounded replay that is never stopped is the whole replay; one that is
/// stopped stops at the first check its stop asks for, and every total it
/// shows then is at most the whole replay's (so a caller may rule a config
/// out on the totals so far). The floor holds for the rest of the replay:
/// the whole replay's pod-seconds are at least those so far plus the floor
/// over the time left.
#[test]
fn a_bounded_replay_stops_where_asked_with_totals_below_the_whole_replay() {
    let s = nab("cpu_utilization_asg_misconfiguration.csv", 5, 0.04);
    let options = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    for (cname, c) in configs() {
        let whole = simulate(&s, &c, &options).expect("replay");
        let mut asked = Vec::new();
        let never = simulate_runs_bounded(&s, &c, &options, &mut |p| {
            asked.push(p.at_s);
            false
        })
        .expect("bounded replay");
        let Bounded::Complete { report, .. } = never else {
            panic!("{cname}: stopped without being asked");
        };
        assert_eq!(report, whole, "{cname}");
        // Asked once per hour of replayed time, first after an hour.
        assert_eq!(asked.first(), Some(&(s.start_s + CHECK_EVERY_S)), "{cname}");
        assert!(asked.windows(2).all(|w| w[1] - w[0] >= CHECK_EVERY_S));
        assert_eq!(
            asked.len() as i64,
            (s.end_s() - s.start_s - 1) / CHECK_EVERY_S
        );

        let stop_at = s.start_s + 2 * 86_400;
        let stopped = simulate_runs_bounded(&s, &c, &options, &mut |p| p.at_s >= stop_at)
            .expect("bounded replay");
        let Bounded::Stopped(p) = stopped else {
            panic!("{cname}: the replay was not stopped");
        };
        assert_eq!(p.at_s, stop_at, "{cname}");
        assert!(p.replica_seconds / 3600.0 <= whole.replica_hours, "{cname}");
        assert!(p.seconds_saturated as f64 / 60.0 <= whole.minutes_saturated);
        assert!(p.seconds_over_target as f64 / 60.0 <= whole.minutes_over_target);
        assert!(p.direction_changes <= whole.direction_changes, "{cname}");
        let floor = match &c.keda {
            Some(k) => k.min_replica_count.max(0),
            None => c.min_replicas,
        };
        let rest = (s.end_s() - stop_at) as f64;
        assert!(
            p.replica_seconds + f64::from(floor) * rest <= whole.replica_hours * 3600.0,
            "{cname}: the floor does not hold for the rest"
        );
        // Two days in, the totals are a real part of the whole.
        assert!(p.replica_seconds > 0.0, "{cname}");
    }
}

/// The counts the floor and ceiling were compared with bound where they can
/// act: a replay whose floor and ceiling lie outside that range gives the
/// same report under any other floor and ceiling outside it, and a floor
/// raised into the range changes the replay.
#[test]
fn a_floor_and_ceiling_outside_the_counts_they_bounded_change_nothing() {
    let series = [
        nab("cpu_utilization_asg_misconfiguration.csv", 5, 0.04),
        nab("nyc_taxi.csv", 7, 1.0 / 2000.0),
        nab("ec2_cpu_utilization_ac20cd.csv", 7, 0.05),
    ];
    let options = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    let (mut same, mut changed) = (0, 0);
    for s in &series {
        for (cname, c) in configs() {
            let Bounded::Complete {
                report,
                counts_bounded,
                ..
            } = simulate_runs_bounded(s, &c, &options, &mut |_| false).expect("replay")
            else {
                panic!("{cname}: stopped without being asked");
            };
            let Some((lo, hi)) = counts_bounded else {
                assert!(c.keda.is_some(), "{cname}: a plain HPA reports its range");
                continue;
            };
            assert!(lo <= hi && lo >= 0, "{cname}: {lo}..{hi}");
            if c.min_replicas < lo && c.max_replicas > hi {
                for (min, max) in [(1, hi + 1), (lo - 1, hi + 7), (1.max(lo / 2), 500)] {
                    let mut other = c.clone();
                    other.min_replicas = min.max(1);
                    other.max_replicas = max;
                    let r = simulate(s, &other, &options).expect("replay");
                    assert_eq!(r, report, "{cname}: floor {min}, ceiling {max}");
                    same += 1;
                }
            }
            // A floor above the lowest count, still inside the range.
            let floor = c.min_replicas.max(lo) + 1;
            if floor < hi {
                let mut raised = c.clone();
                raised.min_replicas = floor;
                raised.max_replicas = raised.max_replicas.max(floor);
                let r = simulate(s, &raised, &options).expect("replay");
                assert_ne!(
                    r, report,
                    "{cname}: a floor inside the range {lo}..{hi} acts (floor {}, ceiling {})",
                    c.min_replicas, c.max_replicas
                );
                changed += 1;
            }
        }
    }
    assert!(same >= 6, "only {same} floor and ceiling swaps compared");
    assert!(changed >= 6, "only {changed} raised floors compared");
}

/// The rate decisions a replay logs say when other scaling policies give
/// the same replay: whenever `same_replay_with_policies` says so, the
/// reference replay under the other policies is the logged replay, trajectory
/// included. Checked on real series for every pair of seven policy sets
/// (the defaults, gentler and stricter scale-down, one pod a minute, a
/// `Min` selection, a faster scale-up, scale-down disabled) under three
/// pairs of stabilization windows, and for each set against the legacy
/// controller (no behavior), whose windows the first pair are; both answers
/// must come up often, also against the legacy controller.
#[test]
fn policies_the_rate_decisions_clear_replay_the_same() {
    let options = SimOptions {
        record_trajectory: true,
        ..SimOptions::default()
    };
    // Pods that may use four times their request read up to 400 %, so a
    // proposal can outrun the legacy scale-up limit (at most double the
    // pods per sync) and leave recommendations above the count in the
    // window (with the default limit at the request they cannot).
    let bursting = SimOptions {
        pod_cpu_limit_cores: Some(2.0),
        ..options.clone()
    };
    let series = [
        (
            nab("cpu_utilization_asg_misconfiguration.csv", 5, 0.04),
            &options,
        ),
        (nab("nyc_taxi.csv", 7, 1.0 / 2000.0), &options),
        (nab("ec2_cpu_utilization_ac20cd.csv", 7, 0.05), &options),
        (nab("elb_request_count_8c0756.csv", 7, 0.01), &options),
        (nab("ec2_cpu_utilization_ac20cd.csv", 7, 0.05), &bursting),
        // Two days of sudden surges over a 5-pod base: a minute at 40
        // pods' worth, a few at 30, a minute at 66, on bursting pods.
        (
            DemandSeries::from_cpu_cores(
                1_700_000_000,
                60,
                (0..2 * 1440)
                    .map(|i| match i % 90 {
                        0..=29 => 1.5,
                        30 => 12.0,
                        31..=40 => 1.0,
                        41..=44 => 9.0,
                        45 => 20.0,
                        _ => 2.0,
                    })
                    .collect(),
            ),
            &bursting,
        ),
    ];
    let percent = |value, period_seconds| ScalingPolicy {
        kind: PolicyType::Percent,
        value,
        period_seconds,
    };
    let pods = |value, period_seconds| ScalingPolicy {
        kind: PolicyType::Pods,
        value,
        period_seconds,
    };
    let rules = |select: Option<SelectPolicy>, policies: Vec<ScalingPolicy>| ScalingRules {
        stabilization_window_seconds: None,
        select_policy: select,
        policies,
    };
    // (scale-up rules, scale-down rules) without windows.
    let policy_sets: Vec<(Option<ScalingRules>, Option<ScalingRules>)> = vec![
        (None, None),
        (None, Some(rules(None, vec![percent(10, 60)]))),
        (None, Some(rules(None, vec![percent(50, 60)]))),
        (None, Some(rules(None, vec![pods(1, 60)]))),
        (
            None,
            Some(rules(
                Some(SelectPolicy::Min),
                vec![percent(25, 60), pods(2, 30)],
            )),
        ),
        (Some(rules(None, vec![percent(400, 15)])), None),
        (None, Some(rules(Some(SelectPolicy::Disabled), vec![]))),
    ];
    let windowed = |mut r: Option<ScalingRules>, window: Option<i32>| {
        if window.is_some() {
            r.get_or_insert_with(ScalingRules::default)
                .stabilization_window_seconds = window;
        }
        r
    };
    let (mut same, mut different, mut same_as_legacy, mut unlike_legacy) = (0, 0, 0, 0);
    for (s, options) in &series {
        for (up_window, down_window) in [(None, None), (None, Some(60)), (Some(60), Some(900))] {
            let config = |p: Option<&(Option<ScalingRules>, Option<ScalingRules>)>| {
                let mut c = AutoscalerConfig::cpu(1, 40, 60, 0.5);
                c.behavior = p.map(|(up, down)| Behavior {
                    scale_up: windowed(up.clone(), up_window),
                    scale_down: windowed(down.clone(), down_window),
                });
                c
            };
            // `None`: the legacy controller, logged once per series.
            let logs = policy_sets
                .iter()
                .map(Some)
                .chain((up_window.is_none() && down_window.is_none()).then_some(None));
            for logged in logs {
                let replayed = config(logged);
                let Bounded::Complete {
                    report,
                    rate_decisions,
                    ..
                } = simulate_runs_bounded(s, &replayed, options, &mut |_| false).expect("replay")
                else {
                    panic!("stopped without being asked");
                };
                let decisions = rate_decisions.expect("a plain HPA logs its decisions");
                for other in policy_sets.iter().filter(|p| Some(*p) != logged) {
                    let other = config(Some(other));
                    let cleared = same_replay_with_policies(&replayed, &decisions, &other, options);
                    if cleared {
                        let r = simulate_reference(s, &other, options).expect("replay");
                        assert_eq!(
                            r, report,
                            "{:?} cleared against the log of {:?}",
                            other.behavior, replayed.behavior
                        );
                    }
                    let tally = match (logged.is_none(), cleared) {
                        (false, true) => &mut same,
                        (false, false) => &mut different,
                        (true, true) => &mut same_as_legacy,
                        (true, false) => &mut unlike_legacy,
                    };
                    *tally += 1;
                }
            }
        }
    }
    assert!(same >= 20, "only {same} policy pairs cleared");
    assert!(different >= 20, "only {different} policy pairs told apart");
    assert!(
        same_as_legacy >= 3 && unlike_legacy >= 3,
        "against the legacy controller: {same_as_legacy} cleared, {unlike_legacy} told apart"
    );
}
