//! The endpoint's state in SQLite: resources, their tags, dataset records and fault rules.
//!
//! Every request runs in a transaction that commits before its answer is sent, and the
//! database is in WAL mode, so an acknowledged request survives the process being killed.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::lifecycle::Timeline;

const SCHEMA_VERSION: i64 = 1;

const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS resources (
    arn TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    parent TEXT,
    created REAL NOT NULL,
    timeline TEXT NOT NULL,
    settle_at REAL,
    action TEXT,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS resources_name ON resources(kind, region, name);
CREATE INDEX IF NOT EXISTS resources_parent ON resources(parent);
CREATE INDEX IF NOT EXISTS resources_settle ON resources(settle_at) WHERE settle_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
CREATE TABLE IF NOT EXISTS records (
    dataset_arn TEXT NOT NULL,
    id TEXT,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_dataset ON records(dataset_arn);
CREATE UNIQUE INDEX IF NOT EXISTS records_id ON records(dataset_arn, id) WHERE id IS NOT NULL;
CREATE TABLE IF NOT EXISTS staged_records (
    job_arn TEXT NOT NULL,
    id TEXT,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS staged_job ON staged_records(job_arn);
CREATE TABLE IF NOT EXISTS models (
    version_arn TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    metrics TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL
);
";

/// Opens (creating if needed) the state database at `path`, or in memory when `None`.
pub(crate) fn open(path: Option<&Path>) -> Result<Connection, rusqlite::Error> {
    let conn = match path {
        Some(path) => Connection::open(path)?,
        None => Connection::open_in_memory()?,
    };
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL loses nothing when the process dies; only a power cut can undo the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the state database has schema version {version}; this build reads up to {SCHEMA_VERSION}"
        )));
    }
    conn.execute_batch(CREATE_TABLES)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(conn)
}

/// The kinds of resource the endpoint stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A dataset group.
    DatasetGroup,
    /// A schema.
    Schema,
    /// A dataset.
    Dataset,
    /// A dataset import job.
    DatasetImportJob,
    /// A solution: a recipe and its training configuration.
    Solution,
    /// A solution version: one trained model.
    SolutionVersion,
    /// A campaign that serves a solution version.
    Campaign,
    /// An event tracker.
    EventTracker,
    /// A filter.
    Filter,
    /// A batch inference job.
    BatchInferenceJob,
}

impl Kind {
    const ALL: [Self; 10] = [
        Self::DatasetGroup,
        Self::Schema,
        Self::Dataset,
        Self::DatasetImportJob,
        Self::Solution,
        Self::SolutionVersion,
        Self::Campaign,
        Self::EventTracker,
        Self::Filter,
        Self::BatchInferenceJob,
    ];

    /// The kind's name in the state database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DatasetGroup => "dataset-group",
            Self::Schema => "schema",
            Self::Dataset => "dataset",
            Self::DatasetImportJob => "dataset-import-job",
            Self::Solution => "solution",
            Self::SolutionVersion => "solution-version",
            Self::Campaign => "campaign",
            Self::EventTracker => "event-tracker",
            Self::Filter => "filter",
            Self::BatchInferenceJob => "batch-inference-job",
        }
    }

    /// The resource-type part of the kind's ARNs: a solution version's ARN is its
    /// solution's with an id added (`solution/<name>/<id>`).
    pub fn arn_type(self) -> &'static str {
        match self {
            Self::SolutionVersion => "solution",
            other => other.as_str(),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind a resource path (the part of an ARN after the account) names.
    pub fn of_path(path: &str) -> Option<Self> {
        let (arn_type, rest) = path.split_once('/')?;
        if arn_type == "solution" && rest.contains('/') {
            return Some(Self::SolutionVersion);
        }
        Self::ALL
            .into_iter()
            .find(|k| k.arn_type() == arn_type && *k != Self::SolutionVersion)
    }

    /// How people call this kind in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::DatasetGroup => "dataset group",
            Self::Schema => "schema",
            Self::Dataset => "dataset",
            Self::DatasetImportJob => "dataset import job",
            Self::Solution => "solution",
            Self::SolutionVersion => "solution version",
            Self::Campaign => "campaign",
            Self::EventTracker => "event tracker",
            Self::Filter => "filter",
            Self::BatchInferenceJob => "batch inference job",
        }
    }
}

/// What must happen when a resource's `settle_at` time comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An import job ends: its staged records replace or join the dataset's.
    FinishImport,
    /// A deletion ends: the resource and what hangs on it are removed.
    Purge,
    /// A solution version's training ends: campaigns that follow the solution's latest
    /// version start deploying it.
    FinishTraining,
    /// A solution's automatic training is due: a version is trained if new data arrived.
    AutoTrain,
    /// A campaign's deployment (creation or update) ends and its new settings take effect.
    FinishDeploy,
    /// A batch inference job ends and writes its output.
    FinishBatch,
}

impl Action {
    const ALL: [Self; 6] = [
        Self::FinishImport,
        Self::Purge,
        Self::FinishTraining,
        Self::AutoTrain,
        Self::FinishDeploy,
        Self::FinishBatch,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::FinishImport => "finish-import",
            Self::Purge => "purge",
            Self::FinishTraining => "finish-training",
            Self::AutoTrain => "auto-train",
            Self::FinishDeploy => "finish-deploy",
            Self::FinishBatch => "finish-batch",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A resource as stored: identity, lifecycle, and its own fields as the API shows them.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The resource's ARN.
    pub arn: String,
    /// What kind of resource it is.
    pub kind: Kind,
    /// Its name, unique per kind, account and region.
    pub name: String,
    /// The region it lives in.
    pub region: String,
    /// The resource it belongs to (a dataset's group, an import job's dataset).
    pub parent: Option<String>,
    /// When it was created, in epoch seconds.
    pub created: f64,
    /// The statuses it goes through, and when.
    pub timeline: Timeline,
    /// When `action` must run, if something is pending.
    pub settle_at: Option<f64>,
    /// What must run at `settle_at`.
    pub action: Option<Action>,
    /// The API fields that are neither identity nor lifecycle.
    pub doc: Map<String, Value>,
}

const COLUMNS: &str = "arn, kind, name, region, parent, created, timeline, settle_at, action, doc";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Resource> {
    let kind: String = row.get(1)?;
    let timeline: String = row.get(6)?;
    let action: Option<String> = row.get(8)?;
    let doc: String = row.get(9)?;
    let bad =
        |what: &str| rusqlite::Error::InvalidColumnName(format!("stored {what} is not readable"));
    Ok(Resource {
        arn: row.get(0)?,
        kind: Kind::parse(&kind).ok_or_else(|| bad("kind"))?,
        name: row.get(2)?,
        region: row.get(3)?,
        parent: row.get(4)?,
        created: row.get(5)?,
        timeline: serde_json::from_str(&timeline).map_err(|_| bad("timeline"))?,
        settle_at: row.get(7)?,
        action: action
            .as_deref()
            .map(|a| Action::parse(a).ok_or_else(|| bad("action")))
            .transpose()?,
        doc: serde_json::from_str(&doc).map_err(|_| bad("document"))?,
    })
}

/// Reads one resource by ARN.
pub fn get(conn: &Connection, arn: &str) -> Result<Option<Resource>, ApiError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM resources WHERE arn = ?1"))?;
    Ok(stmt.query_row([arn], from_row).optional()?)
}

/// The resource of a kind with this name in a region, if there is one.
pub fn find_by_name(
    conn: &Connection,
    kind: Kind,
    region: &str,
    name: &str,
) -> Result<Option<Resource>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM resources WHERE kind = ?1 AND region = ?2 AND name = ?3"
    ))?;
    Ok(stmt
        .query_row(params![kind.as_str(), region, name], from_row)
        .optional()?)
}

/// The ARNs of the datasets built on a schema.
pub fn datasets_using_schema(conn: &Connection, schema_arn: &str) -> Result<Vec<String>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT arn FROM resources WHERE kind = 'dataset' AND json_extract(doc, '$.schemaArn') = ?1 ORDER BY arn",
    )?;
    let rows = stmt.query_map([schema_arn], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores a new resource; a taken name or ARN is `ResourceAlreadyExistsException`.
pub fn insert(tx: &Transaction<'_>, r: &Resource) -> Result<(), ApiError> {
    let taken: Option<String> = tx
        .query_row(
            "SELECT arn FROM resources WHERE arn = ?1 OR (kind = ?2 AND region = ?3 AND name = ?4)",
            params![r.arn, r.kind.as_str(), r.region, r.name],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(existing) = taken {
        return Err(ApiError::ResourceAlreadyExists(format!(
            "a {} named {} already exists: {existing}",
            r.kind.label(),
            r.name
        )));
    }
    tx.execute(
        &format!(
            "INSERT INTO resources ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            r.arn,
            r.kind.as_str(),
            r.name,
            r.region,
            r.parent,
            r.created,
            serde_json::to_string(&r.timeline)?,
            r.settle_at,
            r.action.map(Action::as_str),
            serde_json::to_string(&r.doc)?,
        ],
    )?;
    Ok(())
}

/// Writes back a resource's lifecycle and fields.
pub fn update(tx: &Transaction<'_>, r: &Resource) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE resources SET timeline = ?2, settle_at = ?3, action = ?4, doc = ?5 WHERE arn = ?1",
        params![
            r.arn,
            serde_json::to_string(&r.timeline)?,
            r.settle_at,
            r.action.map(Action::as_str),
            serde_json::to_string(&r.doc)?,
        ],
    )?;
    Ok(())
}

/// Removes a resource with its tags and, for a dataset, its records.
pub fn remove(tx: &Transaction<'_>, arn: &str) -> Result<(), ApiError> {
    tx.execute("DELETE FROM resources WHERE arn = ?1", [arn])?;
    tx.execute("DELETE FROM tags WHERE arn = ?1", [arn])?;
    tx.execute("DELETE FROM records WHERE dataset_arn = ?1", [arn])?;
    tx.execute("DELETE FROM models WHERE version_arn = ?1", [arn])?;
    Ok(())
}

/// One page of resources of a kind in a region, optionally under one parent, newest first (as
/// the service lists), starting after the resource `after` (its creation time and ARN). Fetches
/// one more than `limit` so the caller knows if more remain.
pub fn list(
    conn: &Connection,
    kind: Kind,
    region: &str,
    parent: Option<&str>,
    after: Option<(f64, &str)>,
    limit: usize,
) -> Result<Vec<Resource>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM resources WHERE kind = ?1 AND region = ?2
           AND (?3 IS NULL OR parent = ?3)
           AND (?4 IS NULL OR created < ?4 OR (created = ?4 AND arn < ?5))
         ORDER BY created DESC, arn DESC LIMIT ?6"
    ))?;
    let (created, arn) = after.unzip();
    let rows = stmt.query_map(
        params![
            kind.as_str(),
            region,
            parent,
            created,
            arn,
            limit as i64 + 1
        ],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The resources that belong to `parent`.
pub fn children(conn: &Connection, parent: &str) -> Result<Vec<Resource>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM resources WHERE parent = ?1 ORDER BY arn"
    ))?;
    let rows = stmt.query_map([parent], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The resource whose pending action fell due first, if one is due at `now`.
pub fn next_due(conn: &Connection, now: f64) -> Result<Option<Resource>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM resources WHERE settle_at IS NOT NULL AND settle_at <= ?1
         ORDER BY settle_at, arn LIMIT 1"
    ))?;
    Ok(stmt.query_row([now], from_row).optional()?)
}

/// Whether any action is due at `now`.
pub fn anything_due(conn: &Connection, now: f64) -> Result<bool, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM resources WHERE settle_at IS NOT NULL AND settle_at <= ?1)",
    )?;
    Ok(stmt.query_row([now], |r| r.get(0))?)
}

/// How many resources of a kind in a region still have an action pending (running jobs).
pub fn count_unsettled(conn: &Connection, kind: Kind, region: &str) -> Result<usize, ApiError> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM resources WHERE kind = ?1 AND region = ?2 AND settle_at IS NOT NULL",
        params![kind.as_str(), region],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

/// A resource's tags, by key.
pub fn tags(conn: &Connection, arn: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut stmt =
        conn.prepare_cached("SELECT key, value FROM tags WHERE arn = ?1 ORDER BY key")?;
    let rows = stmt.query_map([arn], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets tags on a resource, replacing the values of keys it already has.
pub fn set_tags(
    tx: &Transaction<'_>,
    arn: &str,
    tags: &[(String, String)],
) -> Result<(), ApiError> {
    let mut stmt =
        tx.prepare_cached("INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?1, ?2, ?3)")?;
    for (key, value) in tags {
        stmt.execute(params![arn, key, value])?;
    }
    Ok(())
}

/// Removes tags from a resource by key.
pub fn remove_tags(tx: &Transaction<'_>, arn: &str, keys: &[String]) -> Result<(), ApiError> {
    let mut stmt = tx.prepare_cached("DELETE FROM tags WHERE arn = ?1 AND key = ?2")?;
    for key in keys {
        stmt.execute(params![arn, key])?;
    }
    Ok(())
}

/// Holds records read by an import job until it ends.
pub struct Stager<'a> {
    stmt: rusqlite::CachedStatement<'a>,
    job_arn: &'a str,
}

impl<'a> Stager<'a> {
    /// Prepares to stage records for `job_arn`.
    pub fn new(tx: &'a Transaction<'_>, job_arn: &'a str) -> Result<Self, ApiError> {
        let stmt = tx.prepare_cached(
            "INSERT INTO staged_records (job_arn, id, fields) VALUES (?1, ?2, ?3)",
        )?;
        Ok(Self { stmt, job_arn })
    }

    /// Stages one record.
    pub fn stage(&mut self, id: Option<&str>, fields: &str) -> Result<(), ApiError> {
        self.stmt.execute(params![self.job_arn, id, fields])?;
        Ok(())
    }
}

/// Moves an ended import job's staged records into its dataset: a FULL import replaces the
/// dataset's records, an INCREMENTAL one adds to them and replaces those with the same id.
pub fn apply_staged(
    tx: &Transaction<'_>,
    job_arn: &str,
    dataset_arn: &str,
    full: bool,
) -> Result<(), ApiError> {
    if full {
        tx.execute("DELETE FROM records WHERE dataset_arn = ?1", [dataset_arn])?;
    }
    tx.execute(
        "INSERT OR REPLACE INTO records (dataset_arn, id, fields)
         SELECT ?2, id, fields FROM staged_records WHERE job_arn = ?1 ORDER BY rowid",
        params![job_arn, dataset_arn],
    )?;
    drop_staged(tx, job_arn)
}

/// Forgets a job's staged records.
pub fn drop_staged(tx: &Transaction<'_>, job_arn: &str) -> Result<(), ApiError> {
    tx.execute("DELETE FROM staged_records WHERE job_arn = ?1", [job_arn])?;
    Ok(())
}

/// One record of a dataset: its id (items and users have one) and its values in schema
/// order, `None` where the value is missing.
pub type DatasetRecord = (Option<String>, Vec<Option<String>>);

/// A dataset's records, in the order they were imported.
pub fn records(conn: &Connection, dataset_arn: &str) -> Result<Vec<DatasetRecord>, ApiError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, fields FROM records WHERE dataset_arn = ?1 ORDER BY rowid")?;
    let rows = stmt.query_map([dataset_arn], |r| {
        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, fields) = row?;
        out.push((id, serde_json::from_str(&fields)?));
    }
    Ok(out)
}

/// The stored fault rules, oldest first, with their row ids.
pub fn faults(conn: &Connection) -> Result<Vec<(i64, String)>, ApiError> {
    let mut stmt = conn.prepare_cached("SELECT id, rule FROM faults ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores a fault rule.
pub fn add_fault(tx: &Transaction<'_>, rule: &str) -> Result<(), ApiError> {
    tx.execute("INSERT INTO faults (rule) VALUES (?1)", [rule])?;
    Ok(())
}

/// Rewrites a fault rule, or removes it when `rule` is `None` (used up).
pub fn set_fault(tx: &Transaction<'_>, id: i64, rule: Option<&str>) -> Result<(), ApiError> {
    match rule {
        Some(rule) => tx.execute(
            "UPDATE faults SET rule = ?2 WHERE id = ?1",
            params![id, rule],
        )?,
        None => tx.execute("DELETE FROM faults WHERE id = ?1", [id])?,
    };
    Ok(())
}

/// Removes every fault rule.
pub fn clear_faults(tx: &Transaction<'_>) -> Result<(), ApiError> {
    tx.execute("DELETE FROM faults", [])?;
    Ok(())
}

/// Stores a trained model and its offline metrics, both as JSON.
pub fn put_model(
    tx: &Transaction<'_>,
    version_arn: &str,
    model: &str,
    metrics: &str,
) -> Result<(), ApiError> {
    tx.execute(
        "INSERT OR REPLACE INTO models (version_arn, model, metrics) VALUES (?1, ?2, ?3)",
        params![version_arn, model, metrics],
    )?;
    Ok(())
}

/// A solution version's model and metrics (JSON), if it has them.
pub fn model(conn: &Connection, version_arn: &str) -> Result<Option<(String, String)>, ApiError> {
    let mut stmt =
        conn.prepare_cached("SELECT model, metrics FROM models WHERE version_arn = ?1")?;
    Ok(stmt
        .query_row([version_arn], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Forgets a solution version's model (its training failed or was stopped).
pub fn remove_model(tx: &Transaction<'_>, version_arn: &str) -> Result<(), ApiError> {
    tx.execute("DELETE FROM models WHERE version_arn = ?1", [version_arn])?;
    Ok(())
}
