//! The search stops a candidate's replay once its figures so far show it
//! can neither be chosen nor be listed, and reuses the replay of a config
//! that provably replays the same; that must change nothing the search
//! reports. On every NAB series under the evaluation's three hand-set
//! configs, the search with early stops and the one that replays every
//! candidate to the end give the same choice, frontier, near misses (what
//! the schedule pass sizes from), held-out figures and verdict.

use stepscale_engine::snapshot::ScalingPolicy;
use stepscale_engine::ConfigChange;
use stepscale_operator::change::CurrentConfig;
use stepscale_operator::objective::search::{choose_with, Shortcuts};
use stepscale_operator::objective::Objective;
use stepscale_rules_sdk::harness::traces;
use stepscale_tests::eval::{self, HandConfig, ANALYSIS_DAYS};

#[test]
fn stopping_hopeless_replays_early_changes_nothing_the_search_reports() {
    let nab = stepscale_tests::demo::nab_dir();
    // Seeds as rules propose them: none, a leaner target and floor, and a
    // long scale-down window with a gentler policy.
    let seed_sets: [Vec<ConfigChange>; 3] = [
        vec![],
        vec![ConfigChange {
            cpu_target_percent: Some(80),
            min_replicas: Some(1),
            ..ConfigChange::default()
        }],
        vec![ConfigChange {
            scale_down_stabilization_seconds: Some(3600),
            scale_down_policy: Some(ScalingPolicy::percent(10, 60)),
            ..ConfigChange::default()
        }],
    ];
    let objective = Objective::default();
    let (mut cases, mut stopped, mut reused, mut listed) = (0u32, 0u32, 0u32, 0usize);
    for name in eval::series_names(&nab).expect("NAB series") {
        let t = traces::read_csv(&nab.join(format!("{name}.csv"))).expect("series");
        let analysis = ANALYSIS_DAYS * t.samples_per_day();
        let demand = eval::demand_pods(&t, analysis);
        for (i, hand) in HandConfig::ALL.into_iter().enumerate() {
            let w = eval::recorded_snapshot(
                &name,
                t.start_unix_seconds,
                t.step_seconds,
                &demand[..analysis],
                hand.config(&demand[..analysis]),
            )
            .expect("snapshot");
            let current = CurrentConfig::of(&w);
            let seeds = &seed_sets[i % seed_sets.len()];
            let early = choose_with(&w, &current, seeds, &objective, Shortcuts::Take)
                .expect("search with early stops");
            let mut whole = choose_with(&w, &current, seeds, &objective, Shortcuts::Never)
                .expect("search without");
            assert_eq!(whole.candidates_stopped_early, 0);
            assert_eq!(whole.candidates_reused, 0);
            stopped += early.candidates_stopped_early;
            reused += early.candidates_reused;
            listed += early.frontier.len() + early.near_misses.len();
            whole.candidates_stopped_early = early.candidates_stopped_early;
            whole.candidates_reused = early.candidates_reused;
            let case = format!("{name} / {}", hand.name());
            // The parts people read first, for a readable failure.
            assert_eq!(early.best, whole.best, "{case}: choice");
            assert_eq!(early.frontier, whole.frontier, "{case}: frontier");
            assert_eq!(early.near_misses, whole.near_misses, "{case}: near misses");
            assert_eq!(early.verdict, whole.verdict, "{case}: verdict");
            assert_eq!(early, whole, "{case}");
            cases += 1;
        }
    }
    assert!(cases >= 30, "only {cases} cases");
    // The comparison means something only when replays were stopped and
    // there was something to list.
    assert!(
        stopped >= cases,
        "only {stopped} replays stopped in {cases} cases"
    );
    assert!(listed >= cases as usize);
    // And only when replays were reused: mostly scaling policies that the
    // rate decisions of a replay already run clear.
    assert!(
        reused >= cases,
        "only {reused} replays reused in {cases} cases"
    );
}
