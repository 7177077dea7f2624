//! The `stepscale` command line: one file per subcommand. Parsing and
//! printing only; the work is done by the library modules.

pub mod analyze;

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
    /// Print the JSON Schema of the snapshot file format.
    SnapshotSchema,
}

/// Exit status of a failed command: bad input or usage.
pub const EXIT_BAD_INPUT: i32 = 2;
