//! `stepscale hpa-conformance FILE`: evaluate HPA/KEDA conformance cases
//! (the format of `hpa_conformance_cases.json`) with the HPA model.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `hpa-conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// A file in the format of hpa_conformance_cases.json (any subset of its
    /// sections).
    pub file: PathBuf,
}

/// Print one line per case and the summary; `Ok(false)` when a case failed.
///
/// # Errors
/// The file cannot be read or a case is malformed (the message names the
/// section, case and field).
pub fn run(args: ConformanceArgs) -> anyhow::Result<bool> {
    let report = stepscale_hpa::conformance::run_file(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(report.all_passed())
}
