//! `personalize-refresh run --local`: the refresh state machine offline, on the local endpoint
//! in-process with a virtual clock. Without `--config`, a season of runs on MovieLens (see
//! [`crate::season`]); with `--config` and `--request`, one run of one's own pipeline; with
//! `--config` and `--s3-event`, the runs the start-execution function starts for the events.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use local_personalize::Durations;
use refresh_core::config::PipelineConfig;
use refresh_core::request::{ImportMode, TrainingMode};
use serde_json::{Value, json};

use crate::local::Local;
use crate::season::{self, Entry};
use start_execution::Outcome;

/// The version of the `--json` summary's layout.
const SUMMARY_VERSION: u32 = 1;

/// Where simulated time starts: Monday 5 January 2026, 00:00 UTC.
const START_EPOCH_SECONDS: u64 = 1_767_571_200;

/// The bucket one's own config is uploaded to, when it runs locally.
const CONFIG_BUCKET: &str = "personalize-refresh-local";

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run on the built-in local endpoint (the only mode `run` has; on AWS, use `start`).
    #[arg(long)]
    local: bool,
    /// A pipeline config to run instead of the MovieLens season, with `--request` or
    /// `--s3-event`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The run request for `--config` (its `configUri` is replaced by the uploaded config's).
    #[arg(long, requires = "config", conflicts_with = "s3_events")]
    request: Option<PathBuf>,
    /// An S3 `Object Created` event (EventBridge's form, or S3's notification) handed to the
    /// start-execution function, which starts the runs of `--config` it calls for, as the
    /// deployed pipeline does when data lands. Repeatable: the events are handled in order,
    /// each one's runs ending before the next. The objects must be in the local S3.
    #[arg(long = "s3-event", value_name = "FILE", requires = "config")]
    s3_events: Vec<PathBuf>,
    /// How the runs `--s3-event` starts import their data (the function's `IMPORT_MODE`).
    #[arg(long, value_name = "MODE", requires = "s3_events", conflicts_with = "request", default_value = "INCREMENTAL", value_parser = ["FULL", "INCREMENTAL"])]
    import_mode: String,
    /// How the runs `--s3-event` starts train (the function's `TRAINING`).
    #[arg(long, value_name = "MODE", requires = "s3_events", conflicts_with = "request", default_value = "NONE", value_parser = ["NONE", "FULL", "UPDATE"])]
    training: String,
    /// The folder the local S3 lives in: `s3://bucket/key` is `<s3-root>/bucket/key`. Put the
    /// data a config names there. The season empties its own first.
    #[arg(long, default_value = ".personalize-refresh/local/s3")]
    s3_root: PathBuf,
    /// A folder to keep Personalize's and Step Functions' state in (emptied first by the
    /// season), so that `personalize-refresh emulator --state-dir` can serve the runs
    /// afterwards; in memory without it, which is several times faster.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// MovieLens as `make data` converts it, for the season.
    #[arg(long, default_value = ".personalize-refresh/data/movielens")]
    data: PathBuf,
    /// Replays only the first N weeks of the season's newer data (MovieLens has 7).
    #[arg(long, conflicts_with = "config", value_parser = clap::value_parser!(u16).range(1..))]
    weeks: Option<u16>,
    /// Prints the summary as JSON (with a `version` field) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the season, or one's own run, and prints the summary.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if !args.local {
        anyhow::bail!(
            "run needs --local: it runs on the built-in local endpoint; on AWS, start an execution with `personalize-refresh start`"
        );
    }
    let own = match (&args.config, &args.request) {
        (Some(config), Some(request)) => Some(Own::Request(read_own(config, request)?)),
        (Some(config), None) if !args.s3_events.is_empty() => Some(Own::Events(read_events(
            config,
            &args.s3_events,
            &args.s3_root,
            &args.import_mode,
            &args.training,
        )?)),
        (Some(_), None) => {
            anyhow::bail!("--config runs with --request FILE or with --s3-event FILE")
        }
        _ => None,
    };
    if own.is_none() {
        for file in ["interactions.csv", "items.csv", "users.csv"] {
            let path = args.data.join(file);
            if !path.is_file() {
                anyhow::bail!(
                    "{} does not exist: `make data` fetches and converts MovieLens",
                    path.display()
                );
            }
        }
        // Only what the season itself writes: its bucket, and a state folder given for it.
        let season_bucket = args.s3_root.join(season::BUCKET);
        for folder in std::iter::once(&season_bucket).chain(args.state_dir.as_ref()) {
            if folder.exists() {
                std::fs::remove_dir_all(folder)
                    .with_context(|| format!("cannot empty {}", folder.display()))?;
            }
        }
    }
    std::fs::create_dir_all(&args.s3_root)
        .with_context(|| format!("cannot create {}", args.s3_root.display()))?;

    // Few threads: each thread that allocates may get a malloc arena of its own, and on the
    // whole season the arenas alone doubled the peak memory (540 MB against 245 MB). One
    // blocking thread serves the endpoint's Personalize calls one at a time, as a single
    // execution at a time needs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Simulated time never goes back on kept state: a run continues where the last ended.
        let start = args
            .state_dir
            .as_deref()
            .and_then(saved_clock)
            .unwrap_or(START_EPOCH_SECONDS as f64)
            .max(START_EPOCH_SECONDS as f64);
        let start = UNIX_EPOCH + Duration::from_secs_f64(start);
        let progress = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let local = Local::start(
            &args.s3_root,
            args.state_dir.as_deref(),
            start,
            Durations::default(),
            progress,
        )
        .await?;
        let real = std::time::Instant::now();
        let mut handled = Vec::new();
        let entries = match own {
            Some(Own::Request((config_name, config_text, request))) => {
                vec![own_run(&local, &config_name, config_text, request).await?]
            }
            Some(Own::Events(events)) => {
                let (entries, answers) = event_runs(&local, events, !args.json).await?;
                handled = answers;
                entries
            }
            None => season::run(&local, &args.data, args.weeks.map(usize::from)).await?,
        };
        let resources = local.resources().await?;
        let simulated = crate::local::sim_time(local.now());
        let serving = local.serving().await?;
        if args.json {
            let summary = json!({
                "version": SUMMARY_VERSION,
                "executions": entries,
                "events": handled,
                "serving": serving,
                "resources": resources,
                "simulatedEnd": local_sfn::history::format_time(local.now()),
                "realSeconds": real.elapsed().as_secs_f64(),
                "peakResidentBytes": peak_resident_bytes(),
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print_table(&entries);
            println!();
            for (campaign, version) in &serving {
                println!("{campaign} serves {version}");
            }
            println!(
                "created: {} import jobs, {} solution versions, {} campaigns",
                resources.import_jobs.len(),
                resources.solution_versions.len(),
                resources.campaigns.len()
            );
            println!(
                "simulated time ends at {simulated}; {} execution(s) in {:.1} s",
                entries.len(),
                real.elapsed().as_secs_f64()
            );
        }
        let end = local.now();
        local.stop().await?;
        if let Some(dir) = &args.state_dir {
            let path = dir.join(CLOCK_FILE);
            std::fs::write(&path, sim_clock::epoch_seconds(end).to_string())
                .with_context(|| format!("cannot save the simulated time in {}", path.display()))?;
        }
        let unexpected: Vec<&str> = entries
            .iter()
            .filter(|e| e.execution.status != "SUCCEEDED" && !e.expected_failure)
            .map(|e| e.execution.name.as_str())
            .collect();
        if !unexpected.is_empty() {
            anyhow::bail!(
                "execution(s) that did not succeed: {}",
                unexpected.join(", ")
            );
        }
        Ok(())
    })
}

/// The file in a kept state folder that holds where simulated time ended, in epoch seconds.
const CLOCK_FILE: &str = "run-local-clock";

/// Where simulated time ended in the last run on the state folder `dir`, if one ran there.
fn saved_clock(dir: &Path) -> Option<f64> {
    std::fs::read_to_string(dir.join(CLOCK_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The process's peak resident memory, from `/proc/self/status` (Linux only).
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Reads one's own config, checked as `validate` checks it: its file name, as it is uploaded,
/// and its text.
fn read_config(config: &Path) -> anyhow::Result<(String, String)> {
    let path = config.display().to_string();
    let text = std::fs::read_to_string(config).with_context(|| format!("{path} cannot be read"))?;
    PipelineConfig::from_json(&text, &path)?;
    let name = config.file_name().map_or_else(
        || "config.json".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok((name, text))
}

/// Reads one's own config (see [`read_config`]) and request.
fn read_own(config: &Path, request: &Path) -> anyhow::Result<(String, String, Value)> {
    let (name, text) = read_config(config)?;
    let request_path = request.display().to_string();
    let request_text = std::fs::read_to_string(request)
        .with_context(|| format!("{request_path} cannot be read"))?;
    let request: Value = serde_json::from_str(&request_text)
        .with_context(|| format!("{request_path} is not JSON"))?;
    if !request.is_object() {
        anyhow::bail!("{request_path}: the run request must be a JSON object");
    }
    Ok((name, text, request))
}

/// One's own pipeline: a config with a run request, or with S3 events.
enum Own {
    /// The config's file name and text, and the request.
    Request((String, String, Value)),
    /// The config and the events.
    Events(Events),
}

/// S3 events for the start-execution function, read and checked before anything starts.
struct Events {
    config_name: String,
    config_text: String,
    /// Each event file's path as given, and its event.
    events: Vec<(String, Value)>,
    import_mode: ImportMode,
    training: TrainingMode,
}

/// Reads one's own config (see [`read_config`]) and the events, each checked to be an S3
/// object-created event (naming the file and field at fault) of objects that are in the local
/// S3 under `s3_root`, so that a bad one starts nothing.
fn read_events(
    config: &Path,
    files: &[PathBuf],
    s3_root: &Path,
    import_mode: &str,
    training: &str,
) -> anyhow::Result<Events> {
    let (config_name, config_text) = read_config(config)?;
    let mut events = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        let body =
            std::fs::read_to_string(file).with_context(|| format!("{name} cannot be read"))?;
        let event: Value =
            serde_json::from_str(&body).with_context(|| format!("{name} is not JSON"))?;
        let objects = start_execution::event::created_objects(&event)
            .map_err(|e| anyhow::anyhow!("{name}: {}: {e}", e.name()))?;
        // On AWS the event means the object is there; here it is a file someone put.
        for object in objects {
            let local = s3_root.join(&object.bucket).join(&object.key);
            if !local.is_file() && !object.key.ends_with('/') {
                anyhow::bail!(
                    "{name}: s3://{}/{} is not in the local S3: put it at {}",
                    object.bucket,
                    object.key,
                    local.display()
                );
            }
        }
        events.push((name, event));
    }
    Ok(Events {
        config_name,
        config_text,
        events,
        // clap offers only the modes' own spellings.
        import_mode: serde_json::from_value(json!(import_mode)).context("--import-mode")?,
        training: serde_json::from_value(json!(training)).context("--training")?,
    })
}

/// Uploads one's own config and hands each event to the start-execution function, as the
/// deployed pipeline's EventBridge rule does, waiting for the runs it starts to end before
/// the next. Answers the runs' entries, and per event what became of each object.
async fn event_runs(
    local: &Local,
    events: Events,
    tell: bool,
) -> anyhow::Result<(Vec<Entry>, Vec<Value>)> {
    let config_uri = local
        .put(
            CONFIG_BUCKET,
            &format!("config/{}", events.config_name),
            events.config_text.into_bytes(),
        )
        .await?;
    let deps = local.start_execution(config_uri, events.import_mode, events.training);
    let mut entries = Vec::new();
    let mut handled = Vec::new();
    for (file, event) in events.events {
        let answer = start_execution::handle(event, &deps)
            .await
            .map_err(|e| anyhow::anyhow!("{file}: {}: {e}", e.name()))?;
        for object in &answer.objects {
            if tell {
                let what = match object.outcome {
                    Outcome::Ignored => {
                        format!("ignored: {}", object.reason.as_deref().unwrap_or_default())
                    }
                    outcome => format!(
                        "{} {}{}",
                        outcome.as_str(),
                        object.execution_name.as_deref().unwrap_or_default(),
                        object
                            .execution_status
                            .as_ref()
                            .map(|status| format!(" ({status})"))
                            .unwrap_or_default()
                    ),
                };
                println!("{file}: s3://{}/{} {what}", object.bucket, object.key);
            }
            if let (Outcome::Started, Some(name), Some(arn)) = (
                object.outcome,
                &object.execution_name,
                &object.execution_arn,
            ) {
                let report = local.finished(name, arn).await?;
                let dataset = json!(object.dataset);
                let what = format!(
                    "{} into {}, started by {file}",
                    object.data_location.as_deref().unwrap_or_default(),
                    dataset.as_str().unwrap_or_default()
                );
                entries.push(season::entry(&what, report));
            }
        }
        handled.push(json!({"file": file, "objects": answer.objects}));
    }
    if tell {
        println!();
    }
    Ok((entries, handled))
}

/// Uploads one's own config and runs the request once.
async fn own_run(
    local: &Local,
    config_name: &str,
    config_text: String,
    mut request: Value,
) -> anyhow::Result<Entry> {
    let uri = local
        .put(
            CONFIG_BUCKET,
            &format!("config/{config_name}"),
            config_text.into_bytes(),
        )
        .await?;
    request["configUri"] = uri.into();
    let name = request["runId"]
        .as_str()
        .map(|id| {
            id.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .take(80)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "local-run".to_owned());
    let report = local.run(&name, &request).await?;
    Ok(season::entry("one run of the given config", report))
}

/// One line per execution: outcome, simulated duration, billed transitions, polls, gate.
fn print_table(entries: &[Entry]) {
    // As wide as the longest name: the season's are short, an S3 event's up to 80 characters.
    let width = entries
        .iter()
        .map(|e| e.execution.name.chars().count())
        .max()
        .unwrap_or_default()
        .max(20);
    println!(
        "{:<width$} {:<46} {:>9}  {:>11}  {:>5}  gate",
        "execution", "outcome", "simulated", "transitions", "polls"
    );
    for e in entries {
        let x = &e.execution;
        let outcome = match (&e.failed_first, x.status.as_str()) {
            (Some(first), status) => format!(
                "{} at {} → redriven: {status}",
                first.error.as_deref().unwrap_or("FAILED"),
                first.failed_state.as_deref().unwrap_or("?")
            ),
            (None, "SUCCEEDED") => "SUCCEEDED".to_owned(),
            (None, status) => format!(
                "{status} {} at {}",
                x.error.as_deref().unwrap_or_default(),
                x.failed_state.as_deref().unwrap_or("?")
            ),
        };
        // A redriven execution's history holds both attempts: its counts are the whole.
        println!(
            "{:<width$} {:<46} {:>8.1}h  {:>11}  {:>5}  {}",
            x.name,
            outcome,
            x.simulated_seconds / 3600.0,
            x.billed_transitions,
            x.polls,
            gate_text(&e.gates)
        );
        println!("  {}", e.what);
        for skip in skips(x.output.as_ref()) {
            println!("  skipped: {skip}");
        }
        if x.status != "SUCCEEDED" || e.failed_first.is_some() {
            let cause = e
                .failed_first
                .as_ref()
                .and_then(|f| f.cause.clone())
                .or_else(|| x.cause.clone())
                .unwrap_or_default();
            println!("  cause: {}", cause_message(&cause));
        }
    }
}

/// A gate's or skip's reason without the ARNs it names (`updates the FULL version already
/// served`), but for a recipe's, which reads as its name (`uses aws-popularity-count`).
fn reason_words(reason: &str) -> String {
    let words: Vec<&str> = reason
        .split_whitespace()
        .filter_map(|w| match w.strip_prefix("arn:") {
            Some(arn) if arn.contains(":recipe/") => arn.rsplit('/').next(),
            Some(_) => None,
            None => Some(w),
        })
        .map(|w| w.trim_start_matches(','))
        .collect();
    let text = words.join(" ");
    let text = text.trim_start_matches(',').trim();
    text.split(':').next().unwrap_or(text).to_owned()
}

/// A metric's usual short name: `ndcg@25` for `normalized_discounted_cumulative_gain_at_25`.
fn short_metric(metric: &str) -> String {
    let (name, at) = metric.rsplit_once("_at_").unwrap_or((metric, ""));
    let name = match name {
        "normalized_discounted_cumulative_gain" => "ndcg",
        "mean_reciprocal_rank" => "mrr",
        other => other,
    };
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{name}@{at}")
    }
}

/// Each solution's skipped training or deployment in a run's output, with its reason.
fn skips(output: Option<&Value>) -> Vec<String> {
    let mut found = Vec::new();
    for s in output
        .and_then(|o| o["solutions"].as_array())
        .into_iter()
        .flatten()
    {
        // A deployment skipped for want of a training says nothing more.
        let part = if s["training"]["skipped"] == true {
            "training"
        } else {
            "deployment"
        };
        if s[part]["skipped"] == true {
            found.push(format!(
                "{} {part}: {}",
                s["solution"].as_str().unwrap_or_default(),
                reason_words(s[part]["reason"].as_str().unwrap_or_default())
            ));
        }
    }
    found
}

/// A Lambda cause's `errorMessage`, or the cause as it is.
fn cause_message(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
        .unwrap_or_else(|| cause.to_owned())
}

/// The gates of a run, each `campaign: metric served → candidate, decision`.
fn gate_text(gates: &[Value]) -> String {
    gates
        .iter()
        .map(|g| {
            let gate = &g["gate"];
            let campaign = g["campaign"].as_str().unwrap_or_default();
            let decision = if gate["passed"] == true {
                "passed"
            } else {
                "REFUSED"
            };
            if let (Some(served), Some(candidate)) =
                (gate["served"].as_f64(), gate["candidate"].as_f64())
            {
                let change = if served > 0.0 {
                    (candidate - served) / served * 100.0
                } else {
                    0.0
                };
                format!(
                    "{campaign}: {} {served:.4} → {candidate:.4} ({change:+.1}%) {decision}",
                    short_metric(gate["metric"].as_str().unwrap_or_default()),
                )
            } else if gate.is_object() {
                format!(
                    "{campaign}: {decision} ({})",
                    reason_words(gate["reason"].as_str().unwrap_or_default())
                )
            } else {
                format!(
                    "{}: {}",
                    g["campaign"].as_str().unwrap_or_default(),
                    g["action"].as_str().unwrap_or_default()
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::reason_words;

    #[test]
    fn reasons_drop_arns_but_name_a_recipe() {
        assert_eq!(
            reason_words(
                "UPDATE training needs the aws-user-personalization recipe; solution popular uses arn:aws:personalize:::recipe/aws-popularity-count"
            ),
            "UPDATE training needs the aws-user-personalization recipe; solution popular uses aws-popularity-count"
        );
        assert_eq!(
            reason_words(
                "updates the FULL version already served arn:aws:personalize:us-east-1:1:solution/s/abc, not judged again: details"
            ),
            "updates the FULL version already served not judged again"
        );
    }
}
