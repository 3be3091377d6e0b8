//! Converts fetched MovieLens 100K into Personalize datasets and says what it wrote:
//!
//! ```text
//! scripts/fetch-movielens.sh
//! cargo run -p movielens --example convert -- .personalize-refresh/cache/ml-100k OUT_DIR
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [source_dir, out_dir] = args.as_slice() else {
        eprintln!("usage: convert SOURCE_DIR OUT_DIR");
        return ExitCode::from(2);
    };

    match movielens::convert(source_dir, out_dir) {
        Ok(summary) => {
            println!(
                "{} interactions, {} items, {} users, timestamps {}..={}, written to {}",
                summary.interactions,
                summary.items,
                summary.users,
                summary.first_timestamp,
                summary.last_timestamp,
                out_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("convert: {error}");
            ExitCode::FAILURE
        }
    }
}
