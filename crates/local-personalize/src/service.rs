//! The service: one call in, one answer out, with the state and the clock behind it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, TransactionBehavior};
use serde_json::Value;
use sim_clock::{Clock, epoch_seconds};

use crate::error::ApiError;
use crate::faults::FaultRule;
use crate::lifecycle::Durations;
use crate::store::{self, DatasetRecord};
use crate::{model, ops};

/// The account every resource of the local endpoint belongs to.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// How a local Personalize endpoint is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the state database lives; `None` keeps it in memory.
    pub state_file: Option<PathBuf>,
    /// The folder that holds S3: `s3://bucket/key` is `<s3_root>/bucket/key`.
    pub s3_root: PathBuf,
    /// The account id in ARNs.
    pub account_id: String,
    /// How long lifecycles take in simulated time.
    pub durations: Durations,
}

impl Config {
    /// A configuration with the default account and durations.
    pub fn new(state_file: Option<PathBuf>, s3_root: impl Into<PathBuf>) -> Self {
        Self {
            state_file,
            s3_root: s3_root.into(),
            account_id: DEFAULT_ACCOUNT.to_owned(),
            durations: Durations::default(),
        }
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The state database could not be opened or created.
    #[error("cannot open the state database {path}")]
    State {
        /// The database file, or `:memory:`.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The durations model has a value no lifecycle can take.
    #[error("invalid durations model: {0}")]
    Durations(String),
}

/// A local Amazon Personalize endpoint.
///
/// Calls are served one at a time against a SQLite database. Statuses are derived from the
/// clock when a call arrives; an import job's records join its dataset when the first call
/// after its end arrives, before that call is served.
pub struct Personalize {
    conn: Mutex<Connection>,
    clock: Clock,
    config: Config,
}

impl std::fmt::Debug for Personalize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Personalize")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What an operation sees of the endpoint while it runs.
pub(crate) struct Ctx<'a> {
    pub tx: &'a rusqlite::Transaction<'a>,
    pub now: f64,
    pub region: &'a str,
    pub config: &'a Config,
}

impl Personalize {
    /// Opens the endpoint's state (creating it if needed).
    pub fn open(config: Config, clock: Clock) -> Result<Self, OpenError> {
        config.durations.check().map_err(OpenError::Durations)?;
        let conn =
            store::open(config.state_file.as_deref()).map_err(|source| OpenError::State {
                path: config
                    .state_file
                    .as_deref()
                    .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string()),
                source,
            })?;
        Ok(Self {
            conn: Mutex::new(conn),
            clock,
            config,
        })
    }

    /// The clock statuses are read from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The folder that holds S3.
    pub fn s3_root(&self) -> &Path {
        &self.config.s3_root
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-done: SQLite rolls
        // back whatever was not committed, so the state is still consistent.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves one operation in `region` with its JSON input.
    pub fn call(&self, region: &str, operation: &str, input: &Value) -> Result<Value, ApiError> {
        model::check_input(operation, input)?;
        let mut conn = self.lock();
        // Read the time only once the state is ours: a call that waited behind a long one must
        // not act at the time it arrived, before what the long one did.
        let now = epoch_seconds(self.clock.now());
        settle(&mut conn, now, &self.config)?;
        take_call_fault(&mut conn, operation)?;

        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ctx = Ctx {
            tx: &tx,
            now,
            region,
            config: &self.config,
        };
        let output = ops::dispatch(&ctx, operation, input).inspect_err(|e| {
            // Every error an operation answers must be one the service model lists for it, or
            // an SDK would not know it; the conformance tests run with this check on.
            debug_assert!(
                model::may_answer(operation, e.error_type()),
                "{operation} answered {}, which the service model does not list for it: {e}",
                e.error_type()
            );
        })?;
        tx.commit()?;
        Ok(output)
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: &FaultRule) -> Result<(), ApiError> {
        rule.check()?;
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        store::add_fault(&tx, &serde_json::to_string(rule)?)?;
        tx.commit()?;
        Ok(())
    }

    /// The fault rules not yet used up, oldest first.
    pub fn faults(&self) -> Result<Vec<FaultRule>, ApiError> {
        let conn = self.lock();
        store::faults(&conn)?
            .into_iter()
            .map(|(_, rule)| serde_json::from_str(&rule).map_err(ApiError::from))
            .collect()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) -> Result<(), ApiError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        store::clear_faults(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The records a dataset holds now: each an optional id and its values in schema order.
    pub fn dataset_records(&self, dataset_arn: &str) -> Result<Vec<DatasetRecord>, ApiError> {
        let mut conn = self.lock();
        let now = epoch_seconds(self.clock.now());
        settle(&mut conn, now, &self.config)?;
        store::records(&conn, dataset_arn)
    }
}

/// Runs every action that is due at `now`, one at a time in the order they fell due, each at
/// the time it fell due: an action may schedule another (automatic training is due again a
/// period later), which runs in the same pass if it is due too.
fn settle(conn: &mut Connection, now: f64, config: &Config) -> Result<(), ApiError> {
    // The connection is this process's alone (the emulator locks its state folder) and the
    // caller holds its mutex, so what is due cannot change before the transaction starts.
    if !store::anything_due(conn, now)? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    while let Some(resource) = store::next_due(&tx, now)? {
        let at = resource.settle_at.unwrap_or(now);
        let region = resource.region.clone();
        let ctx = Ctx {
            tx: &tx,
            now: at,
            region: &region,
            config,
        };
        tracing::debug!(arn = %resource.arn, action = ?resource.action, "settling");
        ops::settle(&ctx, resource)?;
    }
    tx.commit()?;
    Ok(())
}

/// Answers the error of the first `FailCalls` rule for `operation`, using up one of its calls.
fn take_call_fault(conn: &mut Connection, operation: &str) -> Result<(), ApiError> {
    let rules = store::faults(conn)?;
    if rules.is_empty() {
        return Ok(());
    }
    for (id, text) in rules {
        let rule: FaultRule = serde_json::from_str(&text)?;
        if let FaultRule::FailCalls {
            operation: op,
            error_type,
            message,
            count,
        } = rule
            && op == operation
        {
            let tx = conn.transaction()?;
            let rest = FaultRule::FailCalls {
                operation: op,
                error_type: error_type.clone(),
                message: message.clone(),
                count: count - 1,
            };
            let rest = (count > 1)
                .then(|| serde_json::to_string(&rest))
                .transpose()?;
            store::set_fault(&tx, id, rest.as_deref())?;
            tx.commit()?;
            return Err(ApiError::Injected {
                error_type,
                message,
            });
        }
    }
    Ok(())
}

/// Takes the first `FailNextJob` rule for `job_kind`, if any, and returns its reason.
pub(crate) fn take_job_fault(
    tx: &rusqlite::Transaction<'_>,
    job_kind: &str,
) -> Result<Option<String>, ApiError> {
    for (id, text) in store::faults(tx)? {
        if let FaultRule::FailNextJob {
            job_kind: kind,
            reason,
        } = serde_json::from_str(&text)?
            && kind == job_kind
        {
            store::set_fault(tx, id, None)?;
            return Ok(Some(reason));
        }
    }
    Ok(None)
}
