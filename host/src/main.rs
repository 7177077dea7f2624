//! The `stepscale` binary: parse the command line, set up logging, run the
//! subcommand, print an error once with its causes, and exit with a
//! documented status (0 ok, 1 a check failed, 2 bad input or usage, 3 the host could not
//! run a rule).

use clap::Parser;
use stepscale_operator::cli::{Cli, Command, EXIT_BAD_INPUT, EXIT_CHECK_FAILED};

fn main() {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Operator(_) => stepscale_operator::telemetry::DEFAULT_FILTER,
        _ => "warn",
    };
    stepscale_operator::telemetry::init(default_filter);
    let result = match cli.command {
        Command::Analyze(args) => stepscale_operator::cli::analyze::run(args),
        Command::Simulate(args) => stepscale_operator::cli::simulate::run(args),
        Command::SnapshotSchema => {
            serde_json::to_string_pretty(&stepscale_engine::snapshot::json_schema())
                .map(|s| println!("{s}"))
                .map_err(Into::into)
        }
        Command::Operator(args) => stepscale_operator::cli::operator::run(args),
        Command::Crd => stepscale_operator::cli::crd::run(),
        Command::Rules(args) => match stepscale_operator::cli::rules::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(EXIT_CHECK_FAILED),
            Err(e) => Err(e),
        },
        Command::License(args) => match stepscale_operator::cli::license::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(EXIT_CHECK_FAILED),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        eprintln!("stepscale: {e:#}");
        std::process::exit(EXIT_BAD_INPUT);
    }
}
