//! An execution's history: the events Step Functions records (`TaskStateEntered`,
//! `LambdaFunctionFailed`, `MapIterationStarted`, ...) with the details it gives each, so that
//! `GetExecutionHistory` can answer as Step Functions does.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// One event of an execution's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Its number in the history, from 1.
    pub id: u64,
    /// The event before it in the same branch of the run (0 for the first).
    pub previous_event_id: u64,
    /// When it happened, by the run's clock.
    pub timestamp: SystemTime,
    /// The event type as Step Functions names it, such as `PassStateEntered`.
    pub event_type: String,
    /// The details' field name as the API gives it (`stateEnteredEventDetails`) and the
    /// details.
    pub details: Option<(String, Value)>,
}

impl HistoryEvent {
    /// The event as `GetExecutionHistory` gives it: `timestamp` in epoch seconds, `type`,
    /// `id`, `previousEventId` and the details under their own field.
    pub fn to_api_json(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            "timestamp".into(),
            json!(sim_clock::epoch_seconds(self.timestamp)),
        );
        out.insert("type".into(), json!(self.event_type));
        out.insert("id".into(), json!(self.id));
        out.insert("previousEventId".into(), json!(self.previous_event_id));
        if let Some((key, details)) = &self.details {
            out.insert(key.clone(), details.clone());
        }
        Value::Object(out)
    }

    /// The state name of a `...StateEntered` or `...StateExited` event.
    pub fn state_name(&self) -> Option<&str> {
        let (_, details) = self.details.as_ref()?;
        if self.event_type.ends_with("StateEntered") || self.event_type.ends_with("StateExited") {
            details.get("name")?.as_str()
        } else {
            None
        }
    }
}

/// A JSON value as history details carry it: as JSON text.
pub(crate) fn text(value: &Value) -> String {
    value.to_string()
}

/// `{"truncated": false}`, which Step Functions attaches to every input and output.
pub(crate) fn not_truncated() -> Value {
    let mut details = Map::new();
    details.insert("truncated".into(), Value::Bool(false));
    Value::Object(details)
}

/// Formats a time as Step Functions writes times in the context object:
/// `2026-12-03T19:50:16.123Z`.
pub fn format_time(t: SystemTime) -> String {
    let millis_total = (sim_clock::epoch_seconds(t) * 1000.0).floor() as i64;
    let millis = millis_total.rem_euclid(1000);
    let seconds_total = millis_total.div_euclid(1000);
    let days = seconds_total.div_euclid(86_400);
    let rest = seconds_total.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The calendar date of a day counted from 1970-01-01 (proleptic Gregorian; Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_formatted_as_step_functions_writes_them() {
        let t = sim_clock::from_epoch_seconds(1_796_327_416.123);
        assert_eq!(format_time(t), "2026-12-03T19:50:16.123Z");
        assert_eq!(
            format_time(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
        let leap = sim_clock::from_epoch_seconds(951_782_400.0) + Duration::from_millis(5);
        assert_eq!(format_time(leap), "2000-02-29T00:00:00.005Z");
    }

    #[test]
    fn api_json_puts_details_under_their_own_field() {
        let event = HistoryEvent {
            id: 2,
            previous_event_id: 1,
            timestamp: std::time::UNIX_EPOCH,
            event_type: "PassStateEntered".into(),
            details: Some((
                "stateEnteredEventDetails".into(),
                json!({"name": "A", "input": "{}"}),
            )),
        };
        assert_eq!(
            event.to_api_json(),
            json!({"timestamp": 0.0, "type": "PassStateEntered", "id": 2, "previousEventId": 1,
                   "stateEnteredEventDetails": {"name": "A", "input": "{}"}})
        );
        assert_eq!(event.state_name(), Some("A"));
    }
}
