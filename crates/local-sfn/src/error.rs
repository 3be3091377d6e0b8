//! Errors as Step Functions names them: an error name (`States.Runtime`) and a cause.

/// An error a state raises, as an execution's history shows it and as `Retry` and `Catch`
/// match it by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct StatesError {
    /// The error name, such as `States.Runtime` or a Lambda function's own error type.
    pub error: String,
    /// What happened, in words.
    pub cause: String,
}

impl StatesError {
    /// An error of any name.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// `States.Runtime`: a path that matches nothing, an input of the wrong type, and the
    /// other failures of processing data that no retry can mend.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new("States.Runtime", cause)
    }

    /// `States.IntrinsicFailure`: an intrinsic function called with arguments it cannot take.
    pub fn intrinsic_failure(cause: impl Into<String>) -> Self {
        Self::new("States.IntrinsicFailure", cause)
    }
}
