//! Fault rules: errors and failures on demand, for tests and demonstrations.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A fault rule, as stored and as the control API takes it in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum FaultRule {
    /// The next `count` calls of `operation` answer `error_type` instead of doing anything.
    FailCalls {
        /// The operation, as `X-Amz-Target` names it without the service prefix.
        operation: String,
        /// The `__type` to answer, such as `ThrottlingException`.
        error_type: String,
        /// The message to answer.
        #[serde(default = "default_message")]
        message: String,
        /// How many calls fail before the rule is used up.
        #[serde(default = "one")]
        count: u32,
    },
    /// The next job of `job_kind` (for example `dataset-import-job`) is accepted, runs its
    /// usual time and ends `CREATE FAILED` with `reason`.
    FailNextJob {
        /// The kind of job, as its ARN names it.
        job_kind: String,
        /// The failure reason the job reports.
        reason: String,
    },
}

fn default_message() -> String {
    "failure injected by a fault rule".to_owned()
}

fn one() -> u32 {
    1
}

/// The kinds of job a `FailNextJob` rule can name.
pub const JOB_KINDS: &[&str] = &[
    "dataset-import-job",
    "solution-version",
    "campaign",
    "batch-inference-job",
];

impl FaultRule {
    /// Checks that the rule can ever apply.
    pub fn check(&self) -> Result<(), ApiError> {
        match self {
            Self::FailCalls {
                operation,
                error_type,
                count,
                ..
            } => {
                if !crate::model::has_operation(operation) {
                    return Err(ApiError::InvalidInput(format!(
                        "fault rule: operation {operation} is not a Personalize operation"
                    )));
                }
                let token =
                    |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'#' | b':');
                if error_type.is_empty() || !error_type.bytes().all(token) {
                    return Err(ApiError::InvalidInput(format!(
                        "fault rule: errorType {error_type:?} must be an error name such as ThrottlingException"
                    )));
                }
                if *count == 0 {
                    return Err(ApiError::InvalidInput(
                        "fault rule: count must be at least 1".to_owned(),
                    ));
                }
            }
            Self::FailNextJob { job_kind, .. } => {
                if !JOB_KINDS.contains(&job_kind.as_str()) {
                    return Err(ApiError::InvalidInput(format!(
                        "fault rule: jobKind {job_kind} is not one of {}",
                        JOB_KINDS.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_from_json_with_defaults() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"kind": "failCalls", "operation": "DescribeDataset", "errorType": "ThrottlingException"}"#,
        )
        .unwrap();
        assert_eq!(
            rule,
            FaultRule::FailCalls {
                operation: "DescribeDataset".into(),
                error_type: "ThrottlingException".into(),
                message: default_message(),
                count: 1,
            }
        );
        rule.check().unwrap();
        let job: FaultRule = serde_json::from_str(
            r#"{"kind": "failNextJob", "jobKind": "dataset-import-job", "reason": "boom"}"#,
        )
        .unwrap();
        job.check().unwrap();
    }

    #[test]
    fn rules_that_can_never_apply_are_refused() {
        let bad_op = FaultRule::FailCalls {
            operation: "MakeCoffee".into(),
            error_type: "X".into(),
            message: "m".into(),
            count: 1,
        };
        assert!(
            bad_op
                .check()
                .unwrap_err()
                .to_string()
                .contains("MakeCoffee")
        );
        let bad_kind = FaultRule::FailNextJob {
            job_kind: "coffee".into(),
            reason: "r".into(),
        };
        assert!(bad_kind.check().is_err());
        let spaced = FaultRule::FailCalls {
            operation: "ListSchemas".into(),
            error_type: "Bad Type".into(),
            message: "m".into(),
            count: 1,
        };
        assert!(spaced.check().is_err());
    }

    #[test]
    fn misspelt_members_are_refused_rather_than_ignored() {
        let misspelt =
            r#"{"kind": "failCalls", "operation": "ListSchemas", "errorType": "X", "cuont": 5}"#;
        assert!(serde_json::from_str::<FaultRule>(misspelt).is_err());
        let misplaced = r#"{"kind": "failNextJob", "jobKind": "dataset-import-job", "reason": "r", "count": 3}"#;
        assert!(serde_json::from_str::<FaultRule>(misplaced).is_err());
    }
}
