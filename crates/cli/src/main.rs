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
mod pipeline;

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
    /// Serve the local AWS endpoint: Personalize and S3 on one port.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // s3s logs each client error (NoSuchKey, say) at ERROR level; the endpoint's own
                // line per request already carries the status.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off")),
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
