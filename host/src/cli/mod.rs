//! The `stepscale` command line: one file per subcommand. Parsing and
//! printing only; the work is done by the library modules.

pub mod analyze;
pub mod crd;
pub mod demo;
pub mod license;
pub mod operator;
pub mod rules;
pub mod simulate;

use clap::{Parser, Subcommand};

/// stepscale: analyze, recommend, apply and verify Kubernetes autoscaling
/// configuration.
#[derive(Debug, Parser)]
#[command(name = "stepscale", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every rule on a snapshot file (the embedded demo snapshot by
    /// default) and print one recommendation per workload.
    Analyze(analyze::AnalyzeArgs),
    /// Replay a series through the HPA model under the current and a
    /// proposed config and print both side by side.
    Simulate(simulate::SimulateArgs),
    /// Print the JSON Schema of the snapshot file format.
    SnapshotSchema,
    /// Run the operator in the cluster: analyze, recommend, apply approved
    /// recommendations, verify them on probation and roll back on
    /// degradation.
    Operator(operator::OperatorArgs),
    /// Print the ScalingRecommendation CRD (YAML).
    Crd,
    /// Inspect a license file: verify it offline against the public key
    /// and print its state; exit 1 when it does not allow apply.
    License(license::LicenseArgs),
    /// Sign and verify rule components: keygen, sign, verify, inspect.
    Rules(rules::RulesArgs),
}

/// Exit status when a check failed (a rule test, a license check).
pub const EXIT_CHECK_FAILED: i32 = 1;
/// Exit status of a failed command: bad input or usage.
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit status when the host itself failed to run a rule (the output is
/// incomplete): never the input's fault.
pub const EXIT_HOST_ERROR: i32 = 3;

/// Read a text input the user named: a file, or standard input for `-`, at
/// most `limit` bytes (see `stepscale_hpa::limits`), without a byte-order
/// mark. The error names the source and the limit.
///
/// # Errors
/// The file cannot be read, is over the limit, or is not UTF-8.
pub fn read_input(path: &std::path::Path, limit: u64) -> anyhow::Result<String> {
    use anyhow::Context;
    use stepscale_hpa::limits::{read_text, read_text_file};
    if path.as_os_str() == "-" {
        read_text(std::io::stdin().lock(), limit).context("<stdin>: cannot read")
    } else {
        read_text_file(path, limit).with_context(|| format!("{}: cannot read", path.display()))
    }
}
