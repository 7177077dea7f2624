//! The `stepscale` binary: parse the command line, set up logging, run the
//! subcommand, print an error once with its causes, and exit with a
//! documented status (0 ok, 1 a check failed, 2 bad input or usage).

use clap::Parser;
use stepscale_operator::cli::{Cli, Command, EXIT_BAD_INPUT, EXIT_CHECK_FAILED};

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Analyze(args) => stepscale_operator::cli::analyze::run(args),
        Command::HpaConformance(args) => match stepscale_operator::cli::conformance::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(EXIT_CHECK_FAILED),
            Err(e) => Err(e),
        },
        Command::Simulate(args) => stepscale_operator::cli::simulate::run(args),
        Command::SnapshotSchema => {
            serde_json::to_string_pretty(&stepscale_engine::snapshot::json_schema())
                .map(|s| println!("{s}"))
                .map_err(Into::into)
        }
    };
    if let Err(e) = result {
        eprintln!("stepscale: {e:#}");
        std::process::exit(EXIT_BAD_INPUT);
    }
}
