//! How long things take, and which status a resource has at a given time.
//!
//! Statuses are never stored as "current": each resource keeps the times at which it enters
//! each status (its timeline), and a request reads the status at the clock's now. Nothing
//! runs in the background, and a virtual clock can jump hours ahead between two requests.

use serde::{Deserialize, Serialize};

/// Status of a resource being created and not yet started.
pub const CREATE_PENDING: &str = "CREATE PENDING";
/// Status of a resource being created.
pub const CREATE_IN_PROGRESS: &str = "CREATE IN_PROGRESS";
/// Status of a resource ready for use.
pub const ACTIVE: &str = "ACTIVE";
/// Status of a resource whose creation failed.
pub const CREATE_FAILED: &str = "CREATE FAILED";
/// Status of a training being stopped.
pub const CREATE_STOPPING: &str = "CREATE STOPPING";
/// Status of a training that was stopped before it ended.
pub const CREATE_STOPPED: &str = "CREATE STOPPED";
/// Status of a resource whose deletion is queued.
pub const DELETE_PENDING: &str = "DELETE PENDING";
/// Status of a resource being deleted.
pub const DELETE_IN_PROGRESS: &str = "DELETE IN_PROGRESS";

/// The two waiting phases of a change: queued, then running.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phases {
    /// Seconds spent in the pending status.
    pub pending_seconds: f64,
    /// Seconds spent in the in-progress status.
    pub in_progress_seconds: f64,
}

impl Phases {
    /// Phases of the given lengths in seconds.
    pub const fn new(pending_seconds: f64, in_progress_seconds: f64) -> Self {
        Self {
            pending_seconds,
            in_progress_seconds,
        }
    }

    /// No waiting at all.
    pub const ZERO: Self = Self::new(0.0, 0.0);
}

/// How long an import job runs for a given number of rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportModel {
    /// Seconds in `CREATE PENDING`, whatever the size.
    pub pending_seconds: f64,
    /// Seconds in `CREATE IN_PROGRESS` for an empty import.
    pub base_seconds: f64,
    /// Further seconds in `CREATE IN_PROGRESS` per thousand rows read.
    pub seconds_per_thousand_rows: f64,
}

/// How long a training runs for a given number of interactions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainingModel {
    /// Seconds in `CREATE PENDING`, whatever the size.
    pub pending_seconds: f64,
    /// Seconds in `CREATE IN_PROGRESS` however little data there is.
    pub base_seconds: f64,
    /// Further seconds in `CREATE IN_PROGRESS` per thousand interactions trained on.
    pub seconds_per_thousand_interactions: f64,
}

impl TrainingModel {
    /// The phases of a training on `interactions` interactions.
    pub fn phases(&self, interactions: u64) -> Phases {
        Phases::new(
            self.pending_seconds,
            self.base_seconds
                + self.seconds_per_thousand_interactions * interactions as f64 / 1000.0,
        )
    }
}

impl ImportModel {
    /// The phases of a job that reads `rows` rows.
    pub fn phases(&self, rows: u64) -> Phases {
        Phases::new(
            self.pending_seconds,
            self.base_seconds + self.seconds_per_thousand_rows * rows as f64 / 1000.0,
        )
    }
}

/// The durations of every lifecycle the endpoint simulates, in simulated seconds.
///
/// The defaults follow what the service takes for small data sets: a dataset group is ready
/// in about a minute, and an import of 100,000 rows takes about ten minutes. Callers replace
/// the whole model, or parts of it, to make tests quicker or slower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Durations {
    /// Creating a dataset group.
    pub dataset_group: Phases,
    /// Creating a dataset.
    pub dataset: Phases,
    /// Running a dataset import job.
    pub import: ImportModel,
    /// Deleting a resource.
    pub delete: Phases,
    /// Creating a solution (no training: that is a solution version).
    pub solution: Phases,
    /// Applying an UpdateSolution.
    pub solution_update: Phases,
    /// A FULL training, evaluation included.
    pub training: TrainingModel,
    /// An UPDATE training.
    pub update_training: TrainingModel,
    /// Seconds a stopped training spends in `CREATE STOPPING`.
    pub stop_training_seconds: f64,
    /// Deploying a new campaign.
    pub campaign: Phases,
    /// Deploying a campaign update.
    pub campaign_update: Phases,
    /// Creating an event tracker.
    pub event_tracker: Phases,
    /// Creating a filter.
    pub filter: Phases,
    /// Running a batch inference job, by the number of input lines.
    pub batch_inference: ImportModel,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            dataset_group: Phases::new(10.0, 50.0),
            dataset: Phases::new(5.0, 15.0),
            import: ImportModel {
                pending_seconds: 60.0,
                base_seconds: 240.0,
                seconds_per_thousand_rows: 3.0,
            },
            delete: Phases::new(5.0, 25.0),
            solution: Phases::new(5.0, 25.0),
            solution_update: Phases::new(5.0, 25.0),
            // About two hours for MovieLens' 100,000 interactions.
            training: TrainingModel {
                pending_seconds: 300.0,
                base_seconds: 2_700.0,
                seconds_per_thousand_interactions: 45.0,
            },
            // About twenty minutes for 100,000.
            update_training: TrainingModel {
                pending_seconds: 120.0,
                base_seconds: 600.0,
                seconds_per_thousand_interactions: 6.0,
            },
            stop_training_seconds: 60.0,
            campaign: Phases::new(60.0, 540.0),
            campaign_update: Phases::new(60.0, 540.0),
            event_tracker: Phases::new(5.0, 25.0),
            filter: Phases::new(10.0, 50.0),
            batch_inference: ImportModel {
                pending_seconds: 300.0,
                base_seconds: 600.0,
                seconds_per_thousand_rows: 30.0,
            },
        }
    }
}

impl Durations {
    /// A model in which everything completes at once (statuses still step through their
    /// sequence, all at the same instant).
    pub fn instant() -> Self {
        Self {
            dataset_group: Phases::ZERO,
            dataset: Phases::ZERO,
            import: ImportModel {
                pending_seconds: 0.0,
                base_seconds: 0.0,
                seconds_per_thousand_rows: 0.0,
            },
            delete: Phases::ZERO,
            solution: Phases::ZERO,
            solution_update: Phases::ZERO,
            training: TrainingModel {
                pending_seconds: 0.0,
                base_seconds: 0.0,
                seconds_per_thousand_interactions: 0.0,
            },
            update_training: TrainingModel {
                pending_seconds: 0.0,
                base_seconds: 0.0,
                seconds_per_thousand_interactions: 0.0,
            },
            stop_training_seconds: 0.0,
            campaign: Phases::ZERO,
            campaign_update: Phases::ZERO,
            event_tracker: Phases::ZERO,
            filter: Phases::ZERO,
            batch_inference: ImportModel {
                pending_seconds: 0.0,
                base_seconds: 0.0,
                seconds_per_thousand_rows: 0.0,
            },
        }
    }

    /// Reads a model from JSON, in simulated seconds: each number given replaces that number of
    /// the default model, so `{"import": {"baseSeconds": 30}}` changes one value. A name the
    /// model does not have is an error, so a misspelling is not silently ignored.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let given: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if !given.is_object() {
            return Err("the durations model must be a JSON object".to_owned());
        }
        let mut merged = serde_json::to_value(Self::default()).map_err(|e| e.to_string())?;
        merge(&mut merged, &given, "")?;
        let model: Self = serde_json::from_value(merged).map_err(|e| e.to_string())?;
        model.check()?;
        Ok(model)
    }

    /// Checks that every duration is a finite number of seconds, zero or more.
    pub fn check(&self) -> Result<(), String> {
        let value = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let mut bad = Vec::new();
        find_bad_durations(&value, "", &mut bad);
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "durations must be zero or more seconds: {}",
                bad.join(", ")
            ))
        }
    }

    /// The phases of an import job that reads `rows` rows.
    pub fn import_phases(&self, rows: u64) -> Phases {
        self.import.phases(rows)
    }
}

/// Overlays `given` on `base`, naming the first member `base` does not have.
fn merge(
    base: &mut serde_json::Value,
    given: &serde_json::Value,
    path: &str,
) -> Result<(), String> {
    let (Some(base), Some(given)) = (base.as_object_mut(), given.as_object()) else {
        return Err(format!("{path} must be an object"));
    };
    for (name, value) in given {
        let at = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let Some(slot) = base.get_mut(name) else {
            let known: Vec<&str> = base.keys().map(String::as_str).collect();
            return Err(format!(
                "{at} is not part of the durations model (it has {})",
                known.join(", ")
            ));
        };
        match (slot.is_object(), value) {
            (true, _) => merge(slot, value, &at)?,
            (false, serde_json::Value::Number(_)) => *slot = value.clone(),
            (false, _) => return Err(format!("{at} must be a number of seconds")),
        }
    }
    Ok(())
}

fn find_bad_durations(value: &serde_json::Value, path: &str, bad: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(members) => {
            for (name, v) in members {
                let at = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                find_bad_durations(v, &at, bad);
            }
        }
        serde_json::Value::Number(n) if n.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0) => {}
        other => bad.push(format!("{path} is {other}")),
    }
}

/// The statuses a resource goes through and the simulated time (epoch seconds) it enters each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Timeline(pub Vec<(String, f64)>);

impl Timeline {
    /// A creation that starts at `start`, waits through `phases` and ends in `end`.
    pub fn creating(start: f64, phases: Phases, end: &str) -> Self {
        let running = start + phases.pending_seconds;
        Self(vec![
            (CREATE_PENDING.to_owned(), start),
            (CREATE_IN_PROGRESS.to_owned(), running),
            (end.to_owned(), running + phases.in_progress_seconds),
        ])
    }

    /// A creation that starts at `start` but runs only once `not_before` has passed: it stays
    /// pending until then (and at least its usual pending time).
    pub fn queued(start: f64, not_before: f64, phases: Phases, end: &str) -> Self {
        let running = (start + phases.pending_seconds).max(not_before);
        Self(vec![
            (CREATE_PENDING.to_owned(), start),
            (CREATE_IN_PROGRESS.to_owned(), running),
            (end.to_owned(), running + phases.in_progress_seconds),
        ])
    }

    /// A resource that is in its final status from `at` on (schemas, for instance).
    pub fn settled(at: f64, status: &str) -> Self {
        Self(vec![(status.to_owned(), at)])
    }

    /// The status at `now` and the time it was entered. Before the first entry, the first.
    pub fn status_at(&self, now: f64) -> (&str, f64) {
        let mut current = self.0.first().map_or(("", 0.0), |(s, t)| (s.as_str(), *t));
        for (status, at) in &self.0 {
            if *at <= now {
                current = (status.as_str(), *at);
            }
        }
        current
    }

    /// When the timeline reaches its last status.
    pub fn ends_at(&self) -> f64 {
        self.0.last().map_or(0.0, |(_, t)| *t)
    }

    /// The status the timeline ends in.
    pub fn final_status(&self) -> &str {
        self.0.last().map_or("", |(s, _)| s.as_str())
    }

    /// Stops a creation at `now`: `CREATE STOPPING`, then `CREATE STOPPED` after `seconds`.
    pub fn stop(&mut self, now: f64, seconds: f64) {
        self.0.retain(|(_, at)| *at <= now);
        self.0.push((CREATE_STOPPING.to_owned(), now));
        self.0.push((CREATE_STOPPED.to_owned(), now + seconds));
    }

    /// Starts a deletion at `now`; returns when the resource is gone.
    pub fn delete(&mut self, now: f64, phases: Phases) -> f64 {
        self.0.retain(|(_, at)| *at <= now);
        let running = now + phases.pending_seconds;
        self.0.push((DELETE_PENDING.to_owned(), now));
        self.0.push((DELETE_IN_PROGRESS.to_owned(), running));
        running + phases.in_progress_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creation_steps_through_pending_in_progress_and_its_end() {
        let t = Timeline::creating(100.0, Phases::new(10.0, 20.0), ACTIVE);
        assert_eq!(t.status_at(100.0), (CREATE_PENDING, 100.0));
        assert_eq!(t.status_at(109.9).0, CREATE_PENDING);
        assert_eq!(t.status_at(110.0), (CREATE_IN_PROGRESS, 110.0));
        assert_eq!(t.status_at(129.0).0, CREATE_IN_PROGRESS);
        assert_eq!(t.status_at(130.0), (ACTIVE, 130.0));
        assert_eq!(t.status_at(1e9).0, ACTIVE);
        assert_eq!(t.ends_at(), 130.0);
    }

    #[test]
    fn a_queued_creation_stays_pending_until_the_one_before_it_ends() {
        let t = Timeline::queued(100.0, 500.0, Phases::new(10.0, 20.0), ACTIVE);
        assert_eq!(t.status_at(499.0).0, CREATE_PENDING);
        assert_eq!(t.status_at(500.0), (CREATE_IN_PROGRESS, 500.0));
        assert_eq!(t.ends_at(), 520.0);
        let idle = Timeline::queued(100.0, 100.0, Phases::new(10.0, 20.0), ACTIVE);
        assert_eq!(
            idle,
            Timeline::creating(100.0, Phases::new(10.0, 20.0), ACTIVE)
        );
    }

    #[test]
    fn a_deletion_follows_from_now() {
        let mut t = Timeline::creating(0.0, Phases::new(1.0, 1.0), ACTIVE);
        let gone = t.delete(50.0, Phases::new(5.0, 10.0));
        assert_eq!(gone, 65.0);
        assert_eq!(t.status_at(50.0).0, DELETE_PENDING);
        assert_eq!(t.status_at(56.0).0, DELETE_IN_PROGRESS);
    }

    #[test]
    fn import_time_grows_with_rows() {
        let d = Durations::default();
        let small = d.import_phases(1_000).in_progress_seconds;
        let movielens = d.import_phases(100_000);
        let large = d.import_phases(1_000_000).in_progress_seconds;
        assert!(small < movielens.in_progress_seconds && movielens.in_progress_seconds < large);
        let total = movielens.pending_seconds + movielens.in_progress_seconds;
        assert!(
            (120.0..3600.0).contains(&total),
            "100,000 rows take minutes, not {total} s"
        );
    }

    #[test]
    fn training_takes_hours_an_update_less_and_a_deploy_about_ten_minutes() {
        let d = Durations::default();
        let total = |p: Phases| p.pending_seconds + p.in_progress_seconds;
        let full = total(d.training.phases(100_000));
        let update = total(d.update_training.phases(100_000));
        assert!(
            (3_600.0..6.0 * 3_600.0).contains(&full),
            "a FULL training of 100,000 interactions takes hours, not {full} s"
        );
        assert!(
            update < full / 3.0,
            "UPDATE {update} s against FULL {full} s"
        );
        assert!(full < total(d.training.phases(1_000_000)));
        let deploy = total(d.campaign);
        assert!((300.0..=900.0).contains(&deploy), "deploy {deploy} s");
    }

    #[test]
    fn a_twenty_hour_training_can_be_asked_for() {
        let d = Durations::from_json(
            r#"{"training": {"baseSeconds": 72000, "secondsPerThousandInteractions": 0}}"#,
        )
        .unwrap();
        let p = d.training.phases(100_000);
        assert_eq!(p.in_progress_seconds, 72_000.0);
        assert_eq!(
            p.pending_seconds,
            Durations::default().training.pending_seconds
        );
    }

    #[test]
    fn a_stopped_training_steps_through_stopping_to_stopped() {
        let mut t = Timeline::creating(0.0, Phases::new(10.0, 100.0), ACTIVE);
        t.stop(50.0, 60.0);
        assert_eq!(t.status_at(49.0).0, CREATE_IN_PROGRESS);
        assert_eq!(t.status_at(50.0).0, CREATE_STOPPING);
        assert_eq!(t.status_at(110.0).0, CREATE_STOPPED);
        assert_eq!(t.final_status(), CREATE_STOPPED);
    }

    #[test]
    fn a_partial_model_replaces_only_the_numbers_it_gives() {
        let d = Durations::from_json(
            r#"{"datasetGroup": {"pendingSeconds": 1}, "import": {"baseSeconds": 30}}"#,
        )
        .unwrap();
        let default = Durations::default();
        assert_eq!(
            d.dataset_group,
            Phases::new(1.0, default.dataset_group.in_progress_seconds)
        );
        assert_eq!(d.import.base_seconds, 30.0);
        assert_eq!(d.import.pending_seconds, default.import.pending_seconds);
        assert_eq!(d.dataset, default.dataset);
    }

    #[test]
    fn a_misspelt_negative_or_malformed_model_is_refused_naming_the_field() {
        let err = Durations::from_json(r#"{"datsetGroup": {"pendingSeconds": 1}}"#).unwrap_err();
        assert!(err.contains("datsetGroup is not part"), "{err}");
        let err = Durations::from_json(r#"{"import": {"baseSeconds": -1000}}"#).unwrap_err();
        assert!(err.contains("import.baseSeconds"), "{err}");
        let err = Durations::from_json(r#"{"delete": {"pendingSeconds": "soon"}}"#).unwrap_err();
        assert!(
            err.contains("delete.pendingSeconds must be a number"),
            "{err}"
        );
        assert!(Durations::from_json("[]").is_err());
        assert!(Durations::from_json("{").is_err());
        Durations::instant().check().unwrap();
    }
}
