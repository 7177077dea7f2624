//! `stepscale hpa-conformance FILE`: evaluate HPA/KEDA conformance cases
//! (the format of `hpa_conformance_cases.json`, documented by
//! `docs/conformance-cases.schema.json`) with the HPA model, or with
//! `--structured` convert a file whose setups are given in words into the
//! structured fields.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use stepscale_hpa::limits::MAX_CASES_BYTES;

/// Arguments of `hpa-conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// A file in the format of hpa_conformance_cases.json (any subset of its
    /// sections).
    pub file: PathBuf,
    /// Print the file with every setup given in words (failing metrics in
    /// notes, KEDA trigger and instant descriptions) rewritten as structured
    /// fields, instead of evaluating it.
    #[arg(long)]
    pub structured: bool,
}

/// Print one line per case (`PASS`, `FAIL`, `SKIP`, `ERROR`) and the
/// summary; `Ok(false)` when a case failed or could not be read.
///
/// # Errors
/// The file cannot be read or is not a JSON object of sections; with
/// `--structured`, a case whose words the grammar does not know.
pub fn run(args: ConformanceArgs) -> anyhow::Result<bool> {
    if args.structured {
        let text = super::read_input(&args.file, MAX_CASES_BYTES)?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", args.file.display()))?;
        let out = stepscale_hpa_conformance::structured(&doc)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(true);
    }
    let report = stepscale_hpa_conformance::run_file(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(report.all_passed())
}
