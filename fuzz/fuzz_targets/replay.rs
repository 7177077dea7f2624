//! The fast replay (`stepscale_hpa::simulate`: pods held as runs, the syncs
//! that change nothing fast-forwarded) against the reference replay (one pod
//! at a time): any demand, under any of the configs and options the bytes
//! pick (plain HPAs, ScaledObjects with a floor and cron floors), gives the
//! same report from both, with and without a trajectory.
//! And other scaling policies that the replay's rate decisions clear
//! (`same_replay_with_policies`) give that report in the reference replay.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscale_hpa::simulate::fast::simulate_runs_bounded;
use stepscale_hpa::model::{Behavior, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy};
use stepscale_hpa::simulate::{
    same_replay_with_policies, simulate, simulate_reference, AutoscalerConfig, Bounded,
    CronFloor, DemandSeries, KedaConfig, SimOptions,
};

/// The config the first bytes pick: floor, ceiling, target, request, a
/// behavior (none, windows only, or windows with a rate-limit policy), and
/// an HPA or a ScaledObject that never scales to zero, with no cron floor,
/// one, or two that may overlap.
fn config(b: &[u8; 8]) -> AutoscalerConfig {
    let min = i32::from(b[0] % 6) + 1;
    let max = min + i32::from(b[1] % 24);
    let target = 20 + i32::from(b[2] % 80);
    let request = [0.1, 0.25, 0.5, 1.0][usize::from(b[3] % 4)];
    let mut c = AutoscalerConfig::cpu(min, max, target, request);
    let window = |x: u8| Some(i32::from(x % 8) * 60);
    c.behavior = match b[4] % 3 {
        0 => None,
        1 => Some(Behavior {
            scale_up: Some(ScalingRules {
                stabilization_window_seconds: window(b[5] / 8),
                select_policy: None,
                policies: vec![],
            }),
            scale_down: Some(ScalingRules {
                stabilization_window_seconds: window(b[5]),
                select_policy: None,
                policies: vec![],
            }),
        }),
        _ => Some(Behavior {
            scale_up: Some(ScalingRules {
                stabilization_window_seconds: Some(0),
                select_policy: Some(SelectPolicy::Max),
                policies: vec![ScalingPolicy {
                    kind: PolicyType::Pods,
                    value: i32::from(b[6] % 4) + 1,
                    period_seconds: 60,
                }],
            }),
            scale_down: Some(ScalingRules {
                stabilization_window_seconds: window(b[5]),
                select_policy: Some(SelectPolicy::Min),
                policies: vec![ScalingPolicy {
                    kind: PolicyType::Percent,
                    value: i32::from(b[6] / 4 % 100) + 1,
                    period_seconds: 60,
                }],
            }),
        }),
    };
    c.keda = match b[3] / 4 % 4 {
        0 => None,
        floors => Some(KedaConfig {
            min_replica_count: min,
            cooldown_period_s: 300,
            activation_cores: 0.0,
            cron_floors: (1..floors)
                .map(|i| {
                    // Every 1-6 hours, open for a minute to most of the hour.
                    let every = (b[5] >> i) % 6 + 1;
                    let from = (b[4] >> 2) % 60;
                    let to = (from + b[6] % 59 + 1) % 60;
                    CronFloor {
                        timezone: if i == 1 { "UTC" } else { "Asia/Kolkata" }.into(),
                        start: format!("{from} */{every} * * *"),
                        end: format!("{to} */{every} * * *"),
                        desired_replicas: i64::from((b[6] >> i) % 12) + 1,
                    }
                })
                .collect(),
        }),
    };
    c
}

/// `c` with other scaling policies (and selections) in both directions,
/// picked by `b`: the defaults, one percent policy, two policies with `Min`,
/// or scaling disabled. The windows stay (a config without a behavior gets
/// one with the legacy controller's).
fn other_policies(c: &AutoscalerConfig, b: u8) -> AutoscalerConfig {
    let pick = |x: u8| match x % 4 {
        0 => (None, vec![]),
        1 => (
            Some(SelectPolicy::Max),
            vec![ScalingPolicy {
                kind: PolicyType::Percent,
                value: i32::from(x / 4 % 100) + 1,
                period_seconds: 60,
            }],
        ),
        2 => (
            Some(SelectPolicy::Min),
            vec![
                ScalingPolicy {
                    kind: PolicyType::Pods,
                    value: i32::from(x / 4 % 4) + 1,
                    period_seconds: 30,
                },
                ScalingPolicy {
                    kind: PolicyType::Percent,
                    value: 50,
                    period_seconds: 15,
                },
            ],
        ),
        _ => (Some(SelectPolicy::Disabled), vec![]),
    };
    let mut other = c.clone();
    // Without a behavior, one with the legacy controller's windows.
    let behavior = other.behavior.get_or_insert_with(Behavior::default);
    for (rules, x) in [
        (&mut behavior.scale_up, b),
        (&mut behavior.scale_down, b.rotate_left(4)),
    ] {
        let r = rules.get_or_insert_with(ScalingRules::default);
        (r.select_policy, r.policies) = pick(x);
    }
    other
}

/// The options the last picking byte chooses: the defaults, or a shorter
/// metric window, a slower start-up and an initialization period that ends
/// between syncs.
fn options(b: u8, trajectory: bool) -> SimOptions {
    let mut o = SimOptions {
        record_trajectory: trajectory,
        ..SimOptions::default()
    };
    if b % 2 == 1 {
        o.metric_window_s = 40;
        o.pod_startup_s = 95;
        o.controller.cpu_initialization_period_ms = 100_500;
    }
    o
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    // One demand sample a minute (at most two days), each byte a multiple of
    // 1/32 core: flat stretches, steps and spikes all reachable.
    let cores: Vec<f64> = rest
        .iter()
        .take(2880)
        .map(|v| f64::from(*v) / 32.0)
        .collect();
    if cores.is_empty() {
        return;
    }
    let series = DemandSeries::from_cpu_cores(1_700_000_000, 60, cores);
    let c = config(head);
    for trajectory in [false, true] {
        let o = options(head[7], trajectory);
        let fast = simulate(&series, &c, &o);
        let reference = simulate_reference(&series, &c, &o);
        match (fast, reference) {
            (Ok(f), Ok(r)) => assert_eq!(f, r, "{c:?} {o:?}"),
            (f, r) => assert_eq!(f.is_ok(), r.is_ok(), "{c:?}"),
        }
    }
    let o = options(head[7], true);
    if let Ok(Bounded::Complete {
        report,
        rate_decisions: Some(decisions),
        ..
    }) = simulate_runs_bounded(&series, &c, &o, &mut |_| false)
    {
        let other = other_policies(&c, head[7] >> 1);
        if same_replay_with_policies(&c, &decisions, &other, &o) {
            let r = simulate_reference(&series, &other, &o).expect("the same config replays");
            assert_eq!(r, report, "{other:?} cleared against the log of {c:?}");
        }
    }
});
