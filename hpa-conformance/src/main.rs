//! `stepscale-hpa-conformance FILE`: evaluate HPA/KEDA conformance cases
//! (the format of `hpa_conformance_cases.json`, documented by
//! `docs/conformance-cases.schema.json`) with the HPA model, or with
//! `--structured` convert a file whose setups are given in words into the
//! structured fields. A binary of its own, so the operator does not link the
//! case reader.
//!
//! Exit status: 0 every case passed (or the file was converted), 1 a case
//! failed or could not be evaluated, 2 the file cannot be read or is not a
//! case document.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use stepscale_hpa::limits::{read_text, read_text_file, MAX_CASES_BYTES};

/// Evaluate HPA/KEDA conformance cases with the stepscale HPA model.
#[derive(Debug, Parser)]
#[command(name = "stepscale-hpa-conformance", version)]
struct Args {
    /// A file in the format of hpa_conformance_cases.json (any subset of its
    /// sections); `-` reads standard input.
    file: PathBuf,
    /// Print the file with every setup given in words (failing metrics in
    /// notes, KEDA trigger and instant descriptions) rewritten as structured
    /// fields, instead of evaluating it.
    #[arg(long)]
    structured: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("stepscale-hpa-conformance: {}: {e}", args.file.display());
            ExitCode::from(2)
        }
    }
}

/// Print one line per case (`PASS`, `FAIL`, `SKIP`, `ERROR`) and the
/// summary, or the structured file; `Ok(false)` when a case did not pass.
fn run(args: &Args) -> Result<bool, String> {
    let text = if args.file.as_os_str() == "-" {
        read_text(std::io::stdin().lock(), MAX_CASES_BYTES)
    } else {
        read_text_file(&args.file, MAX_CASES_BYTES)
    }
    .map_err(|e| format!("cannot read: {e}"))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    if args.structured {
        let out = stepscale_hpa_conformance::structured(&doc).map_err(|e| e.to_string())?;
        let pretty = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
        println!("{pretty}");
        return Ok(true);
    }
    let report = stepscale_hpa_conformance::run_value(&doc).map_err(|e| e.to_string())?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(report.all_passed())
}
