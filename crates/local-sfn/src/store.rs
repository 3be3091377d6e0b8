//! The state of the Step Functions API in SQLite: state machines, executions and their
//! histories, in tables of their own (`sfn_*`) in the same database file as the local
//! endpoint's Personalize state.
//!
//! An execution is saved as its record without its history, plus one row per history event.
//! Events never change once recorded, so each save writes only the events recorded since the
//! last one and a save costs what the execution did since, not the length of its history.
//! Saves of one execution may arrive out of order (the API saves the record it started while
//! the execution's task may already have saved a later one); the row keeps whichever record
//! has more events, the later one.
//!
//! Deleting a state machine marks its executions (`machine_deleted`): they stay readable, but
//! they belong to no state machine created later under the same name, which neither lists
//! them nor lets them be redriven on its definition.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::execution::ExecutionRecord;
use crate::history::HistoryEvent;

/// The version of the `sfn_*` tables this build writes; a database written by a newer build
/// is refused rather than misread.
///
/// Version 2 added `sfn_executions.machine_deleted`; a version 1 database gains the column on
/// opening, set for the executions whose state machine no longer exists.
const SCHEMA_VERSION: i64 = 2;

const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS sfn_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sfn_state_machines (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sfn_executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    state_machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time REAL NOT NULL,
    stop_time REAL,
    redrive_count INTEGER NOT NULL,
    redrive_time REAL,
    events INTEGER NOT NULL,
    input_text TEXT NOT NULL,
    record TEXT NOT NULL,
    machine_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sfn_executions_machine ON sfn_executions(state_machine_arn, seq);
CREATE INDEX IF NOT EXISTS sfn_executions_status ON sfn_executions(status);
CREATE TABLE IF NOT EXISTS sfn_history (
    execution_arn TEXT NOT NULL,
    id INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (execution_arn, id)
) WITHOUT ROWID;
";

/// A failure to read or write the state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("the Step Functions state: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A saved record could not be written or read back.
    #[error("the Step Functions state holds a record that is not valid: {0}")]
    Json(#[from] serde_json::Error),
}

/// A state machine as saved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateMachineRow {
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    /// Epoch seconds.
    pub created: f64,
}

/// What `ListExecutions` shows of an execution, read without its record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExecutionSummary {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub start_time: f64,
    pub stop_time: Option<f64>,
    pub redrive_count: u32,
    pub redrive_time: Option<f64>,
}

/// Which executions a `ListExecutions` page shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExecutionFilter<'a> {
    pub state_machine_arn: Option<&'a str>,
    pub status: Option<&'a str>,
    /// `Some(true)`: only redriven ones; `Some(false)`: only those never redriven.
    pub redriven: Option<bool>,
}

/// The Step Functions state.
pub(crate) struct Store {
    db: Mutex<Db>,
    /// Whether saves from running executions are still taken: off once the endpoint stops, so
    /// that executions ending afterwards in the same process leave the saved state as it
    /// stood.
    accepting: AtomicBool,
}

struct Db {
    conn: Connection,
    /// How many history events of each execution are saved already.
    saved_events: HashMap<String, u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the tables in the database at `path`, or in memory.
    pub fn open(path: Option<&Path>) -> Result<Store, rusqlite::Error> {
        let conn = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        // The same settings as the Personalize connection to the same file: WAL (a setting of
        // the file), and commits that survive the process being killed.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(CREATE_TABLES)?;
        let version: Option<i64> = conn
            .query_row(
                "SELECT value FROM sfn_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(version) = version.filter(|v| *v > SCHEMA_VERSION) {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "the Step Functions tables have schema version {version}; this build reads up to \
                 {SCHEMA_VERSION}"
            )));
        }
        let has_flag: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('sfn_executions')
             WHERE name = 'machine_deleted'",
            [],
            |r| r.get(0),
        )?;
        if !has_flag {
            conn.execute_batch(
                "ALTER TABLE sfn_executions
                     ADD COLUMN machine_deleted INTEGER NOT NULL DEFAULT 0;
                 UPDATE sfn_executions SET machine_deleted = 1
                     WHERE state_machine_arn NOT IN (SELECT arn FROM sfn_state_machines);",
            )?;
        }
        conn.execute(
            "INSERT OR REPLACE INTO sfn_meta (key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION],
        )?;
        Ok(Store {
            db: Mutex::new(Db {
                conn,
                saved_events: HashMap::new(),
            }),
            accepting: AtomicBool::new(true),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // SQLite rolls back whatever a panicking holder did not commit.
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops taking saves from running executions ([`Store::observe`]).
    pub fn stop_observing(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    // ---- state machines ----------------------------------------------------------------------

    pub fn insert_state_machine(&self, row: &StateMachineRow) -> Result<(), StoreError> {
        self.lock().conn.execute(
            "INSERT INTO sfn_state_machines (arn, name, definition, role_arn, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![row.arn, row.name, row.definition, row.role_arn, row.created],
        )?;
        Ok(())
    }

    pub fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRow>, StoreError> {
        Ok(self
            .lock()
            .conn
            .query_row(
                "SELECT arn, name, definition, role_arn, created FROM sfn_state_machines
                 WHERE arn = ?1",
                [arn],
                state_machine_row,
            )
            .optional()?)
    }

    /// State machines newest first, from the one created before the one numbered `before`;
    /// each with its number.
    pub fn state_machines(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, StateMachineRow)>, StoreError> {
        let db = self.lock();
        let mut statement = db.conn.prepare(
            "SELECT arn, name, definition, role_arn, created, seq FROM sfn_state_machines
             WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = statement
            .query_map(params![before.unwrap_or(i64::MAX), limit as i64], |r| {
                Ok((r.get(5)?, state_machine_row(r)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Deletes a state machine and marks its executions as those of a deleted state machine.
    pub fn delete_state_machine(&self, arn: &str) -> Result<(), StoreError> {
        let mut db = self.lock();
        let tx = db.conn.transaction()?;
        tx.execute("DELETE FROM sfn_state_machines WHERE arn = ?1", [arn])?;
        tx.execute(
            "UPDATE sfn_executions SET machine_deleted = 1 WHERE state_machine_arn = ?1",
            [arn],
        )?;
        tx.commit()?;
        Ok(())
    }

    // ---- executions ----------------------------------------------------------------------------

    /// Saves a record from a running execution, unless the endpoint has stopped.
    pub fn observe(&self, record: &ExecutionRecord) {
        if !self.accepting.load(Ordering::SeqCst) {
            return;
        }
        if let Err(err) = self.save(record, None) {
            tracing::warn!(execution = %record.info.execution_arn, %err, "cannot save the execution");
        }
    }

    /// Saves an execution's record; `input_text` is its input as `StartExecution` was given it,
    /// kept from the first save that gives it.
    pub fn save(
        &self,
        record: &ExecutionRecord,
        input_text: Option<&str>,
    ) -> Result<(), StoreError> {
        let arn = record.info.execution_arn.as_str();
        let mut value = serde_json::to_value(record)?;
        let history = match value.as_object_mut().and_then(|o| o.remove("history")) {
            Some(Value::Array(events)) => events,
            _ => Vec::new(),
        };
        let events = history.len() as u64;
        let record_text = value.to_string();
        let info = &record.info;

        let mut db = self.lock();
        let Db { conn, saved_events } = &mut *db;
        let known = match saved_events.get(arn) {
            Some(known) => *known,
            None => conn.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM sfn_history WHERE execution_arn = ?1",
                [arn],
                |r| r.get::<_, i64>(0),
            )? as u64,
        };
        let tx = conn.transaction()?;
        {
            // Event ids count from 1 in the order they were recorded.
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO sfn_history (execution_arn, id, event) VALUES (?1, ?2, ?3)",
            )?;
            for (index, event) in history.iter().enumerate().skip(known as usize) {
                insert.execute(params![arn, index as i64 + 1, event.to_string()])?;
            }
        }
        let fallback_input;
        let input = match input_text {
            Some(text) => text,
            None => {
                fallback_input = info.input.to_string();
                &fallback_input
            }
        };
        tx.execute(
            "INSERT INTO sfn_executions (arn, state_machine_arn, name, status, start_time,
                 stop_time, redrive_count, redrive_time, events, input_text, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(arn) DO UPDATE SET status = excluded.status,
                 stop_time = excluded.stop_time, redrive_count = excluded.redrive_count,
                 redrive_time = excluded.redrive_time, events = excluded.events,
                 record = excluded.record
             WHERE excluded.events >= sfn_executions.events",
            params![
                arn,
                info.state_machine_arn,
                info.name,
                record.status.as_str(),
                sim_clock::epoch_seconds(info.start_time),
                record.stop_time.map(sim_clock::epoch_seconds),
                record.redrive_count,
                record.redrive_time.map(sim_clock::epoch_seconds),
                events as i64,
                input,
                record_text,
            ],
        )?;
        if let Some(text) = input_text {
            // The execution's own first save may have come before this one, without the text.
            tx.execute(
                "UPDATE sfn_executions SET input_text = ?1 WHERE arn = ?2",
                params![text, arn],
            )?;
        }
        tx.commit()?;
        saved_events.insert(arn.to_owned(), known.max(events));
        Ok(())
    }

    /// Whether the state machine of the execution `arn` was deleted since it started (false
    /// for an execution not saved).
    pub fn machine_deleted(&self, arn: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .conn
            .query_row(
                "SELECT machine_deleted FROM sfn_executions WHERE arn = ?1",
                [arn],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    pub fn execution_exists(&self, arn: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .conn
            .query_row("SELECT 1 FROM sfn_executions WHERE arn = ?1", [arn], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }

    /// An execution's record (with its history when asked) and its input as given.
    pub fn execution(
        &self,
        arn: &str,
        with_history: bool,
    ) -> Result<Option<(ExecutionRecord, String)>, StoreError> {
        let db = self.lock();
        let row: Option<(String, String)> = db
            .conn
            .query_row(
                "SELECT record, input_text FROM sfn_executions WHERE arn = ?1",
                [arn],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((record_text, input_text)) = row else {
            return Ok(None);
        };
        let mut value: Value = serde_json::from_str(&record_text)?;
        let history = if with_history {
            let mut statement = db.conn.prepare_cached(
                "SELECT event FROM sfn_history WHERE execution_arn = ?1 ORDER BY id",
            )?;
            let events = statement
                .query_map([arn], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            events
                .iter()
                .map(|text| serde_json::from_str(text))
                .collect::<Result<Vec<Value>, _>>()?
        } else {
            Vec::new()
        };
        if let Some(object) = value.as_object_mut() {
            object.insert("history".into(), Value::Array(history));
        }
        Ok(Some((serde_json::from_value(value)?, input_text)))
    }

    /// Up to `limit` events of an execution in id order (or reversed), after the event `after`
    /// in that order.
    pub fn events(
        &self,
        arn: &str,
        after: Option<u64>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let db = self.lock();
        let sql = if reverse {
            "SELECT event FROM sfn_history WHERE execution_arn = ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3"
        } else {
            "SELECT event FROM sfn_history WHERE execution_arn = ?1 AND id > ?2
             ORDER BY id LIMIT ?3"
        };
        let bound = match (after, reverse) {
            (Some(id), _) => id as i64,
            (None, true) => i64::MAX,
            (None, false) => 0,
        };
        let mut statement = db.conn.prepare_cached(sql)?;
        let texts = statement
            .query_map(params![arn, bound, limit as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(texts
            .iter()
            .map(|text| serde_json::from_str(text))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// Executions newest first, from the one started before the one numbered `before`; each
    /// with its number. Filtered by state machine, they leave out those of a deleted state
    /// machine of the same ARN.
    pub fn executions(
        &self,
        filter: &ExecutionFilter<'_>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, ExecutionSummary)>, StoreError> {
        let db = self.lock();
        let mut statement = db.conn.prepare_cached(
            "SELECT seq, arn, state_machine_arn, name, status, start_time, stop_time,
                    redrive_count, redrive_time
             FROM sfn_executions
             WHERE seq < ?1
               AND (?2 IS NULL OR (state_machine_arn = ?2 AND machine_deleted = 0))
               AND (?3 IS NULL OR status = ?3)
               AND (?4 IS NULL OR (redrive_count > 0) = ?4)
             ORDER BY seq DESC LIMIT ?5",
        )?;
        let rows = statement
            .query_map(
                params![
                    before.unwrap_or(i64::MAX),
                    filter.state_machine_arn,
                    filter.status,
                    filter.redriven,
                    limit as i64
                ],
                |r| {
                    Ok((
                        r.get(0)?,
                        ExecutionSummary {
                            arn: r.get(1)?,
                            state_machine_arn: r.get(2)?,
                            name: r.get(3)?,
                            status: r.get(4)?,
                            start_time: r.get(5)?,
                            stop_time: r.get(6)?,
                            redrive_count: r.get(7)?,
                            redrive_time: r.get(8)?,
                        },
                    ))
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The ARNs of the executions saved as running.
    pub fn running_executions(&self) -> Result<Vec<String>, StoreError> {
        let db = self.lock();
        let mut statement = db
            .conn
            .prepare("SELECT arn FROM sfn_executions WHERE status = 'RUNNING' ORDER BY seq")?;
        let arns = statement
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(arns)
    }
}

fn state_machine_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StateMachineRow> {
    Ok(StateMachineRow {
        arn: r.get(0)?,
        name: r.get(1)?,
        definition: r.get(2)?,
        role_arn: r.get(3)?,
        created: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_marks_the_executions_of_deleted_state_machines_on_opening() {
        // GIVEN a version 1 database: one execution of a state machine that exists, one of a
        // state machine deleted
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        let version_1 = CREATE_TABLES.replace(
            "record TEXT NOT NULL,\n    machine_deleted INTEGER NOT NULL DEFAULT 0",
            "record TEXT NOT NULL",
        );
        assert_ne!(version_1, CREATE_TABLES);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&version_1).unwrap();
            conn.execute_batch(
                "INSERT INTO sfn_meta VALUES ('schema_version', 1);
                 INSERT INTO sfn_state_machines (arn, name, definition, role_arn, created)
                     VALUES ('machine:kept', 'kept', '{}', 'role', 0);
                 INSERT INTO sfn_executions (arn, state_machine_arn, name, status, start_time,
                     redrive_count, events, input_text, record)
                 VALUES ('run:kept', 'machine:kept', 'a', 'ABORTED', 0, 0, 0, '{}', '{}'),
                        ('run:gone', 'machine:gone', 'b', 'ABORTED', 0, 0, 0, '{}', '{}');",
            )
            .unwrap();
        }

        // WHEN it is opened
        let store = Store::open(Some(&path)).unwrap();

        // THEN only the execution of the deleted state machine is marked, and unlisted
        assert!(store.machine_deleted("run:gone").unwrap());
        assert!(!store.machine_deleted("run:kept").unwrap());
        let filter = ExecutionFilter {
            state_machine_arn: Some("machine:gone"),
            ..ExecutionFilter::default()
        };
        assert!(store.executions(&filter, None, 10).unwrap().is_empty());
    }
}
