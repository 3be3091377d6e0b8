//! Import validation throughput: how many rows per second an import job checks against the
//! dataset's schema, on the 100,000 MovieLens interactions (`make bench` prepares them).
//!
//! Reads the file into memory first, so the number is the checking alone, not the disk.
//! Prints the best and median of several passes; the target on a 2-core machine is at least
//! 1,000,000 rows per second.

use std::path::PathBuf;
use std::time::Instant;

use local_personalize::schema::DatasetSchema;
use local_personalize::validate::check_file;

const PASSES: usize = 15;
const TARGET_ROWS_PER_SECOND: f64 = 1_000_000.0;

fn main() {
    let data = std::env::var_os("PERSONALIZE_REFRESH_MOVIELENS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.personalize-refresh/data/movielens")
        },
        PathBuf::from,
    );
    let csv = std::fs::read(data.join("interactions.csv")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}/interactions.csv ({e}): run `make data`",
            data.display()
        )
    });
    let avro = std::fs::read_to_string(data.join("interactions.avsc"))
        .expect("the schema is beside the data");
    let schema = DatasetSchema::parse(&avro).expect("the MovieLens schema parses");

    let mut rates = Vec::with_capacity(PASSES);
    let mut rows = 0;
    for _ in 0..PASSES {
        let started = Instant::now();
        let mut seen = 0u64;
        rows = check_file(csv.as_slice(), "interactions.csv", &schema, None, |row| {
            seen += row.values.len() as u64;
        })
        .expect("MovieLens is valid");
        std::hint::black_box(seen);
        rates.push(rows as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let best = rates[PASSES - 1];
    let median = rates[PASSES / 2];
    println!("import validation: {rows} MovieLens interactions, {PASSES} passes");
    println!("  median {:>12.0} rows/s", median);
    println!("  best   {:>12.0} rows/s", best);
    println!(
        "  target {:>12.0} rows/s: {}",
        TARGET_ROWS_PER_SECOND,
        if median >= TARGET_ROWS_PER_SECOND {
            "met"
        } else {
            "NOT met"
        }
    );
}
