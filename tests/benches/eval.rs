//! The evaluation harness (see `stepscale_tests::eval`): analyze the first
//! week of every NAB series under three hand-set configs, judge the
//! recommendation on the following days, print the table and the medians.
//! Run with `cargo bench -p stepscale-tests --bench eval`; the committed
//! result is docs/evaluation.md.

use std::time::Instant;

use stepscale_engine::EngineConfig;
use stepscale_operator::analysis::Analyzer;
use stepscale_operator::objective::{Mode, Objective};
use stepscale_tests::eval;

fn main() {
    let nab = stepscale_tests::demo::nab_dir();
    // STEPSCALE_EVAL_MODE=balanced|reliability judges another objective.
    let mode = match std::env::var("STEPSCALE_EVAL_MODE").as_deref() {
        Ok("balanced") => Mode::Balanced,
        Ok("reliability") => Mode::Reliability,
        Ok("savings") | Err(_) => Mode::Savings,
        Ok(other) => {
            eprintln!("eval: STEPSCALE_EVAL_MODE={other:?}: use savings, balanced or reliability");
            std::process::exit(2);
        }
    };
    // STEPSCALE_EVAL_SATURATION_TOLERANCE=N judges another saturation
    // tolerance (minutes/day; the default objective's otherwise).
    let defaults = Objective::default();
    let tolerance = match std::env::var("STEPSCALE_EVAL_SATURATION_TOLERANCE") {
        Ok(v) => {
            match v.parse::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => t,
                _ => {
                    eprintln!("eval: STEPSCALE_EVAL_SATURATION_TOLERANCE={v:?}: use minutes/day, 0 or more");
                    std::process::exit(2);
                }
            }
        }
        Err(_) => defaults.saturation_tolerance_minutes_per_day,
    };
    let analyzer = match Analyzer::with_builtin_rules(EngineConfig::default()) {
        Ok(a) => a.with_objective(Objective {
            mode,
            saturation_tolerance_minutes_per_day: tolerance,
            ..defaults
        }),
        Err(e) => {
            eprintln!("eval: the rule engine does not start: {e}");
            std::process::exit(1);
        }
    };
    // STEPSCALE_EVAL_SERIES=a,b limits the run to those series and prints
    // their full recommendations.
    let only: Option<Vec<String>> = std::env::var("STEPSCALE_EVAL_SERIES")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let names = match eval::series_names(&nab) {
        Ok(n) => n
            .into_iter()
            .filter(|n| only.as_ref().is_none_or(|o| o.contains(n)))
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("eval: {e}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    match eval::evaluate(&analyzer, &nab, &names) {
        Ok(rows) => {
            // STEPSCALE_EVAL_SNAPSHOT=FILE writes the analyzed snapshots, to
            // replay one with `stepscale analyze FILE` or `stepscale
            // simulate --snapshot FILE --workload traces/NAME`.
            if let Ok(path) = std::env::var("STEPSCALE_EVAL_SNAPSHOT") {
                let snapshot = stepscale_engine::Snapshot {
                    api_version: stepscale_engine::snapshot::SNAPSHOT_API_VERSION.to_string(),
                    workloads: rows.iter().map(|r| r.snapshot.clone()).collect(),
                };
                let written = serde_json::to_string(&snapshot)
                    .map_err(|e| e.to_string())
                    .and_then(|j| std::fs::write(&path, j).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    eprintln!("eval: {path}: {e}");
                    std::process::exit(1);
                }
            }
            if only.is_some() {
                let recs: Vec<_> = rows.iter().map(|r| r.recommendation.clone()).collect();
                print!(
                    "{}",
                    stepscale_operator::recommendation::render::table(&recs)
                );
            }
            print!("{}", eval::fidelity_table(&rows));
            println!();
            print!("{}", eval::hindsight_table(&rows));
            println!();
            println!(
                "objective mode: {}, saturation tolerance {tolerance} min/day\n",
                mode.as_str()
            );
            print!("{}", eval::table(&rows));
            println!(
                "- analyzed {} workloads in {:.1} s ({} thread(s))",
                rows.len(),
                started.elapsed().as_secs_f64(),
                std::thread::available_parallelism().map_or(1, |n| n.get())
            );
        }
        Err(e) => {
            eprintln!("eval: {e}");
            std::process::exit(1);
        }
    }
}
