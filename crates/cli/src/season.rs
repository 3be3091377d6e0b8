//! A season of refresh runs on MovieLens, replayed offline: the worked example's config, the
//! older 80% of the interactions (by time) imported FULL with the items and users and trained
//! FULL, then the newer 20% arriving a week at a time, each week an INCREMENTAL import with an
//! UPDATE training and a FULL retrain from the week's full export, each deployed through the
//! quality gate. Along the way: a week first exported in milliseconds (refused at Import,
//! naming the file and row), a full export whose item ids are shuffled (its version refused
//! by the gate), and a training that fails (the execution redriven to success).

use std::path::Path;

use anyhow::Context;
use local_personalize::FaultRule;
use serde::Serialize;
use serde_json::{Value, json};

use crate::local::{ExecutionReport, Local};

/// The bucket the worked example's config reads from: the only one the season writes.
pub const BUCKET: &str = "personalize-refresh-data";

/// The worked example's config, as committed.
const CONFIG: &str = include_str!("../../../examples/movielens/config.json");

/// A week, in seconds.
const WEEK: i64 = 7 * 24 * 3600;

/// The share of the interactions, oldest first, the first run imports.
const INITIAL_SHARE: f64 = 0.8;

/// The week whose slice first arrives in milliseconds.
const MILLISECONDS_WEEK: usize = 1;

/// The week whose training fails once, and is redriven.
const FAILING_WEEK: usize = 2;

/// The week whose full export comes with its item ids shuffled.
const CORRUPTED_WEEK: usize = 4;

/// One execution of the season, as the summary shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// What the run was for.
    pub what: String,
    /// The execution's report (after its redrive, if it was redriven).
    pub execution: ExecutionReport,
    /// The failure before the redrive, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_first: Option<ExecutionReport>,
    /// The quality gate's decisions, one per campaign deployed or refused.
    pub gates: Vec<Value>,
    /// Whether the season means this execution to fail (a week exported in milliseconds).
    #[serde(skip)]
    pub expected_failure: bool,
}

/// The interactions file's rows, with their timestamps.
struct Interactions {
    header: String,
    /// The TIMESTAMP column's index.
    timestamp_column: usize,
    /// The ITEM_ID column's index.
    item_column: usize,
    rows: Vec<(i64, String)>,
}

impl Interactions {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {} (run `make data`)", path.display()))?;
        let mut lines = text.lines();
        let header = lines
            .next()
            .with_context(|| format!("{} is empty", path.display()))?
            .to_owned();
        let position = |name: &str| {
            header
                .split(',')
                .position(|c| c == name)
                .with_context(|| format!("{} has no {name} column", path.display()))
        };
        let timestamp_column = position("TIMESTAMP")?;
        let item_column = position("ITEM_ID")?;
        let mut rows = Vec::new();
        for (n, line) in lines.enumerate() {
            let timestamp = line
                .split(',')
                .nth(timestamp_column)
                .and_then(|t| t.parse().ok())
                .with_context(|| {
                    format!(
                        "{} line {}: the TIMESTAMP is missing or not a whole number",
                        path.display(),
                        n + 2
                    )
                })?;
            rows.push((timestamp, line.to_owned()));
        }
        rows.sort_by_key(|(t, _)| *t);
        Ok(Self {
            header,
            timestamp_column,
            item_column,
            rows,
        })
    }

    /// A CSV of `rows`, timestamps multiplied by `scale`.
    fn csv(&self, rows: &[(i64, String)], scale: i64) -> Vec<u8> {
        let column = self.timestamp_column;
        let mut out = self.header.clone();
        out.push('\n');
        for (timestamp, line) in rows {
            if scale == 1 {
                out.push_str(line);
            } else {
                let cells: Vec<String> = line
                    .split(',')
                    .enumerate()
                    .map(|(i, c)| {
                        if i == column {
                            (timestamp * scale).to_string()
                        } else {
                            c.to_owned()
                        }
                    })
                    .collect();
                out.push_str(&cells.join(","));
            }
            out.push('\n');
        }
        out.into_bytes()
    }

    /// `rows` with their item ids shuffled among them, as a broken export would send them.
    fn shuffled(&self, rows: &[(i64, String)]) -> Vec<(i64, String)> {
        let column = self.item_column;
        let items: Vec<String> = rows
            .iter()
            .map(|(_, l)| l.split(',').nth(column).unwrap_or_default().to_owned())
            .collect();
        // Each row takes the item of the row 7,919 places on (a prime, so rows far apart in
        // time, and of other users, trade items), wrapping around at the end.
        rows.iter()
            .enumerate()
            .map(|(i, (t, line))| {
                let item = &items[(i + 7919) % items.len()];
                let cells: Vec<&str> = line
                    .split(',')
                    .enumerate()
                    .map(|(c, v)| if c == column { item.as_str() } else { v })
                    .collect();
                (*t, cells.join(","))
            })
            .collect()
    }
}

/// Uploads the data and the config, then runs the season; answers one entry per execution.
pub async fn run(
    local: &Local,
    data: &Path,
    weeks_wanted: Option<usize>,
) -> anyhow::Result<Vec<Entry>> {
    let interactions = Interactions::read(&data.join("interactions.csv"))?;
    let cut = ((interactions.rows.len() as f64) * INITIAL_SHARE) as usize;
    let (initial, newer) = interactions.rows.split_at(cut);
    let Some(&(first_new, _)) = newer.first() else {
        anyhow::bail!("{}: too few interactions for a season", data.display());
    };
    let mut weeks: Vec<Vec<(i64, String)>> = Vec::new();
    for row in newer {
        let week = usize::try_from((row.0 - first_new) / WEEK).unwrap_or_default();
        if weeks.len() <= week {
            weeks.resize(week + 1, Vec::new());
        }
        weeks[week].push(row.clone());
    }
    weeks.retain(|w| !w.is_empty());
    if let Some(wanted) = weeks_wanted {
        weeks.truncate(wanted);
    }

    let config_uri = local
        .put(BUCKET, "config/movielens.json", CONFIG.as_bytes().to_vec())
        .await?;
    local
        .put(
            BUCKET,
            "movielens/interactions/initial.csv",
            interactions.csv(initial, 1),
        )
        .await?;
    for dataset in ["items", "users"] {
        let path = data.join(format!("{dataset}.csv"));
        let body = std::fs::read(&path)
            .with_context(|| format!("cannot read {} (run `make data`)", path.display()))?;
        local
            .put(BUCKET, &format!("movielens/{dataset}/{dataset}.csv"), body)
            .await?;
    }

    let mut entries = Vec::new();
    let initial_request = json!({
        "configUri": config_uri,
        "runId": "initial",
        "imports": [
            {"dataset": "interactions", "mode": "FULL",
             "dataLocation": format!("s3://{BUCKET}/movielens/interactions/initial.csv")},
            {"dataset": "items", "mode": "FULL"},
            {"dataset": "users", "mode": "FULL"}
        ],
        "training": "FULL"
    });
    let first = local.run("initial", &initial_request).await?;
    if first.status != "SUCCEEDED" {
        anyhow::bail!(
            "the season's first run {} at {}: {}",
            first.status,
            first.failed_state.as_deref().unwrap_or("?"),
            first.cause.as_deref().unwrap_or_default()
        );
    }
    entries.push(entry(
        "first run: FULL imports (older 80%), FULL training, campaigns created",
        first,
    ));

    let mut so_far: Vec<(i64, String)> = initial.to_vec();
    for (index, week) in weeks.iter().enumerate() {
        let n = index + 1;
        so_far.extend(week.iter().cloned());
        let slice = format!("slices/week-{n}.csv");
        if n == MILLISECONDS_WEEK {
            let key = format!("slices/week-{n}-milliseconds.csv");
            let uri = local
                .put(BUCKET, &key, interactions.csv(week, 1000))
                .await?;
            let request = incremental(&config_uri, &format!("week-{n}-milliseconds"), &uri);
            let mut refused = entry(
                &format!("week {n} exported in milliseconds: refused before any import"),
                local
                    .run(&format!("week-{n}-milliseconds"), &request)
                    .await?,
            );
            refused.expected_failure = true;
            entries.push(refused);
        }
        let uri = local.put(BUCKET, &slice, interactions.csv(week, 1)).await?;
        let request = incremental(&config_uri, &format!("week-{n}"), &uri);
        let what = format!("week {n}: INCREMENTAL import, UPDATE training, deploy");
        if n == FAILING_WEEK {
            local.add_fault(&FaultRule::FailNextJob {
                job_kind: "solution-version".into(),
                reason: "the training instance was lost (a fault rule of the demo)".into(),
            })?;
            let failed = local.run(&format!("week-{n}"), &request).await?;
            let redriven = local.redrive(&format!("week-{n}"), &failed.arn).await?;
            let mut e = entry(&format!("{what}; failed, redriven"), redriven);
            e.failed_first = Some(failed);
            entries.push(e);
        } else {
            entries.push(entry(
                &what,
                local.run(&format!("week-{n}"), &request).await?,
            ));
        }

        let (export, what) = if n == CORRUPTED_WEEK {
            (
                interactions.csv(&interactions.shuffled(&so_far), 1),
                format!("week {n} FULL retrain on an export with shuffled item ids"),
            )
        } else {
            (
                interactions.csv(&so_far, 1),
                format!("week {n} FULL retrain on the full export"),
            )
        };
        let uri = local
            .put(BUCKET, &format!("exports/week-{n}.csv"), export)
            .await?;
        let request = json!({
            "configUri": config_uri,
            "runId": format!("week-{n}-full"),
            "imports": [{"dataset": "interactions", "mode": "FULL", "dataLocation": uri}],
            "training": "FULL"
        });
        entries.push(entry(
            &what,
            local.run(&format!("week-{n}-full"), &request).await?,
        ));
    }
    Ok(entries)
}

/// A week's run: its slice imported INCREMENTAL, an UPDATE training, deployed.
fn incremental(config_uri: &str, run_id: &str, uri: &str) -> Value {
    json!({
        "configUri": config_uri,
        "runId": run_id,
        "imports": [{"dataset": "interactions", "mode": "INCREMENTAL", "dataLocation": uri}],
        "training": "UPDATE"
    })
}

/// An entry for `execution`, with the gate decisions of its output.
pub fn entry(what: &str, execution: ExecutionReport) -> Entry {
    let gates = gates(execution.output.as_ref());
    Entry {
        what: what.to_owned(),
        execution,
        failed_first: None,
        gates,
        expected_failure: false,
    }
}

/// Each campaign's gate decision in a run's output: `{solution, campaign, action, gate}`.
fn gates(output: Option<&Value>) -> Vec<Value> {
    let mut found = Vec::new();
    let Some(solutions) = output.and_then(|o| o["solutions"].as_array()) else {
        return found;
    };
    for s in solutions {
        for c in s["deployment"]["campaigns"]
            .as_array()
            .into_iter()
            .flatten()
        {
            found.push(json!({
                "solution": s["solution"],
                "campaign": c["name"],
                "action": c["action"],
                "gate": c["gate"],
                "servedVersionArn": c["servedVersionArn"],
            }));
        }
    }
    found
}
