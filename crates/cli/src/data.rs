//! `personalize-refresh data`: public data sets converted for Personalize.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

/// Data sets the command can prepare.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Convert MovieLens 100K into Personalize interactions, items and users CSV files with
    /// their Avro schemas. MovieLens may not be redistributed: fetch it first with
    /// `scripts/fetch-movielens.sh` (or `make data`).
    Movielens {
        /// Folder to write the CSV files and schemas into.
        #[arg(long)]
        out: PathBuf,
        /// Folder holding ml-100k.inter, ml-100k.item and ml-100k.user as fetched.
        #[arg(long, default_value = ".personalize-refresh/cache/ml-100k")]
        source: PathBuf,
    },
}

/// Runs a `data` subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Movielens { out, source } => {
            if !source.join("ml-100k.inter").is_file() {
                anyhow::bail!(
                    "{} has no ml-100k.inter: fetch MovieLens first with scripts/fetch-movielens.sh {}",
                    source.display(),
                    source.display()
                );
            }
            let summary = movielens::convert(&source, &out)
                .with_context(|| format!("cannot convert MovieLens from {}", source.display()))?;
            let mut stdout = std::io::stdout().lock();
            writeln!(
                stdout,
                "wrote {} interactions, {} items and {} users to {}",
                summary.interactions,
                summary.items,
                summary.users,
                out.display()
            )?;
            Ok(())
        }
    }
}
