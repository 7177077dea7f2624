//! The controller's shortcuts for reconciles that leave the count alone
//! (`keep_count`, and `hold` below and above the count, which
//! `would_hold` answers ahead of time), which the fast replay takes
//! instead of a full reconcile, against the full reconcile over the
//! upstream slot list: the same count at every sync, over long sequences of
//! proposals under behaviors with and without stabilization windows.

use stepscale_hpa::model::{
    Behavior, ControllerConfig, HorizontalController, HpaSpec, PolicyType, ScalingPolicy,
    ScalingRules,
};

/// A deterministic stream of pseudo-random numbers (a 64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn rules(window_s: Option<i32>, policies: Vec<ScalingPolicy>) -> Option<ScalingRules> {
    Some(ScalingRules {
        stabilization_window_seconds: window_s,
        select_policy: None,
        policies,
    })
}

fn behaviors() -> Vec<Option<Behavior>> {
    let pods = |value, period_seconds| ScalingPolicy {
        kind: PolicyType::Pods,
        value,
        period_seconds,
    };
    vec![
        None,
        Some(Behavior::default()),
        Some(Behavior {
            scale_up: rules(Some(60), vec![]),
            scale_down: rules(Some(0), vec![]),
        }),
        Some(Behavior {
            scale_up: rules(Some(120), vec![pods(2, 60)]),
            scale_down: rules(Some(300), vec![pods(1, 60)]),
        }),
        Some(Behavior {
            scale_up: rules(Some(300), vec![]),
            scale_down: None,
        }),
    ]
}

/// Replays `syncs` proposals (a random walk, with jumps) through a full
/// reconcile over the slot list and through the shortcuts over sliding
/// windows; returns how often each shortcut took a sync, and how often
/// `would_hold` promised a hold ahead of time.
fn compare(spec: &HpaSpec, seed: u64, syncs: usize) -> [usize; 4] {
    let mut reference = HorizontalController::new(ControllerConfig::default());
    let mut fast = HorizontalController::new(ControllerConfig::default()).with_sliding_windows();
    let mut rng = Lcg(seed);
    let mut current = spec.min_replicas.max(1);
    let mut level = i64::from(current);
    let mut taken = [0usize; 3];
    let mut held_ahead = 0usize;
    for i in 0..syncs {
        level = match rng.below(20) {
            0 => 1 + rng.below(40) as i64,
            1..=6 => level + rng.below(3) as i64 - 1,
            _ => level,
        }
        .clamp(0, 45);
        let proposal = (level + rng.below(3) as i64 - 1).max(0) as i32;
        let now_ms = i as i64 * 15_000;
        let full = reference
            .reconcile_with(spec, current, now_ms, |_| Ok((proposal, None)))
            .desired_replicas;
        // Asked ahead (with no reconcile in between), a hold `would_hold`
        // promises is what the full reconcile does at that time.
        let ahead_ms = now_ms + 15_000 * (1 + rng.below(30) as i64);
        if fast.would_hold(spec, current, proposal, ahead_ms) {
            held_ahead += 1;
            let full_ahead = reference
                .clone()
                .reconcile_with(spec, current, ahead_ms, |_| Ok((proposal, None)))
                .desired_replicas;
            assert_eq!(
                full_ahead, current,
                "sync {i} (seed {seed}): held {ahead_ms} ms ahead, proposal {proposal}"
            );
        }
        let shortcut = if fast.keep_count(spec, current, proposal, now_ms) {
            taken[0] += 1;
            current
        } else if fast.hold(spec, current, proposal, now_ms) {
            taken[if proposal < current { 1 } else { 2 }] += 1;
            current
        } else {
            fast.reconcile_with(spec, current, now_ms, |_| Ok((proposal, None)))
                .desired_replicas
        };
        assert_eq!(
            shortcut, full,
            "sync {i} (seed {seed}, behavior {:?}): current {current}, proposal {proposal}",
            spec.behavior
        );
        current = full;
    }
    [taken[0], taken[1], taken[2], held_ahead]
}

#[test]
fn the_shortcuts_give_the_counts_of_a_full_reconcile() {
    let mut taken = [0usize; 4];
    for behavior in behaviors() {
        let rises_possible = behavior.as_ref().is_some_and(|b| b.scale_up_window_s() > 0);
        for (min, max) in [(1, 40), (3, 12), (2, 2)] {
            let spec = HpaSpec {
                min_replicas: min,
                max_replicas: max,
                metrics: Vec::new(),
                behavior: behavior.clone(),
            };
            for seed in 1..=6 {
                let t = compare(&spec, seed, 4_000);
                if !rises_possible {
                    assert_eq!(t[2], 0, "no scale-up window holds a rise: {behavior:?}");
                }
                for (all, n) in taken.iter_mut().zip(t) {
                    *all += n;
                }
            }
        }
    }
    // Each shortcut took a share of the syncs, so each was compared.
    for (name, n) in ["keep_count", "hold below", "hold above", "would_hold ahead"]
        .iter()
        .zip(taken)
    {
        assert!(n > 1_000, "{name} took only {n} syncs");
    }
}
