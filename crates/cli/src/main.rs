//! `personalize-refresh`: the command line of the project.
//!
//! - `personalize-refresh emulator` serves the local AWS endpoint (Personalize and S3 on one
//!   port) until it is stopped with Ctrl-C or SIGTERM.
//! - `personalize-refresh data movielens --out DIR` converts MovieLens 100K, as fetched by
//!   `scripts/fetch-movielens.sh`, into Amazon Personalize CSV files and Avro schemas.
//! - `personalize-refresh schema config|request` prints the JSON Schema of the pipeline config
//!   or of the run request; `personalize-refresh validate CONFIG` checks a config offline.
//! - `personalize-refresh step STEP --event FILE` runs one step's handler once against the
//!   endpoint `AWS_ENDPOINT_URL` names, printing its result or the error Step Functions would see.
//!
//! Logs go to standard error (`RUST_LOG` sets the level, `info` by default); what a person
//! asked for goes to standard output.

mod data;
mod emulator;
mod executions;
mod local;
mod pipeline;
mod run_local;
mod season;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps Amazon Personalize recommendations fresh; offline, a local AWS endpoint to try it on.
#[derive(Debug, Parser)]
#[command(name = "personalize-refresh", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the local AWS endpoint: Personalize, Step Functions and S3 on one port.
    Emulator(emulator::Args),
    /// Prepare public data sets for Personalize.
    #[command(subcommand)]
    Data(data::Command),
    /// Print the JSON Schema of the pipeline config or of the run request.
    Schema {
        /// Which document.
        #[arg(value_enum)]
        document: pipeline::Document,
    },
    /// Check a pipeline config offline.
    Validate(pipeline::ValidateArgs),
    /// Run one step of the pipeline once, as Lambda would, against the configured endpoint.
    Step(pipeline::StepArgs),
    /// Run the refresh state machine offline (`--local`): a season on MovieLens, one run of a
    /// config, or the runs S3 events start.
    Run(run_local::RunArgs),
    /// Start an execution of a state machine with a run request; prints the execution's ARN.
    Start(executions::StartArgs),
    /// Show an execution: its status, dates, redrives, and output or error.
    Status(executions::StatusArgs),
    /// List a state machine's executions, newest first.
    Executions(executions::ExecutionsArgs),
    /// Show an execution's history, one line per event.
    History(executions::HistoryArgs),
    /// Redrive a failed, timed-out or aborted execution from the state where it stopped.
    Redrive(executions::RedriveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // s3s logs each client error (NoSuchKey, say) at ERROR level; the endpoint's own line per
    // request already carries the status. An offline run shows its progress instead of logs.
    let default_filter = match cli.command {
        Command::Emulator(_) | Command::Data(_) | Command::Step(_) => "info,s3s=off",
        // The AWS SDK's own warnings (no region found in instance metadata...) would bury the
        // one line these commands print when something is wrong.
        _ => "error,s3s=off",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let result = match cli.command {
        Command::Emulator(args) => emulator::run(args),
        Command::Data(command) => data::run(command),
        Command::Schema { document } => pipeline::schema(document),
        Command::Validate(args) => pipeline::validate(args),
        Command::Step(args) => pipeline::step(args),
        Command::Run(args) => run_local::run(args),
        Command::Start(args) => executions::start(args),
        Command::Status(args) => executions::status(args),
        Command::Executions(args) => executions::executions(args),
        Command::History(args) => executions::history(args),
        Command::Redrive(args) => executions::redrive(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
