//! The errors a step raises, named so that a state machine's `Retry` and `Catch` can tell
//! them apart.
//!
//! Lambda reports a failed invocation with an error type, which Step Functions matches
//! against `ErrorEquals`. Left alone, that type is the Rust type name, which no definition can
//! spell; here each variant maps to a stable name through [`lambda_runtime::Diagnostic`].

use std::fmt;

use aws_sdk_personalize::config::http::HttpResponse;
use aws_sdk_personalize::error::{ProvideErrorMetadata, SdkError};
use lambda_runtime::Diagnostic;

/// Why a step did not finish. Whether a case is retryable is decided here, by variant, never
/// by matching message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Something that passes with time: a resource still being created or updated, an import
    /// already running on the dataset, a quota full of running jobs, throttling, a service or
    /// network failure. The state machine retries with backoff.
    #[error("{0}")]
    RetryableConflict(String),
    /// The run request or pipeline config is wrong, or the service refused a call for a reason
    /// that another attempt will not change. Fatal: the message names the field at fault.
    #[error("{0}")]
    InvalidRequest(String),
    /// The service ran a job (import, training, deployment) and it failed. Fatal, with the
    /// service's reason.
    #[error("{0}")]
    ResourceFailed(String),
}

impl StepError {
    /// The error name Lambda reports and Step Functions matches.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RetryableConflict(_) => "RetryableConflict",
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::ResourceFailed(_) => "ResourceFailed",
        }
    }

    /// Whether another attempt later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RetryableConflict(_))
    }

    /// A shorthand for an [`StepError::InvalidRequest`] built from anything printable.
    pub fn invalid(message: impl fmt::Display) -> Self {
        Self::InvalidRequest(message.to_string())
    }

    /// A shorthand for a [`StepError::RetryableConflict`] built from anything printable.
    pub fn retryable(message: impl fmt::Display) -> Self {
        Self::RetryableConflict(message.to_string())
    }
}

impl From<StepError> for Diagnostic {
    fn from(error: StepError) -> Self {
        Diagnostic {
            error_type: error.name().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The error codes that mean "not now" rather than "not this".
const RETRYABLE_CODES: &[&str] = &[
    "ResourceInUseException",
    "LimitExceededException",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalFailure",
    "SlowDown",
];

/// A failed SDK call, reduced to what the steps decide on: the service's error code, if it
/// answered with one, and whether trying again later may help.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The operation that failed, such as `CreateDatasetImportJob`.
    pub operation: &'static str,
    /// The service's error code (`ResourceAlreadyExistsException`), when it answered.
    pub code: Option<String>,
    /// What went wrong, as the service or the SDK said it.
    pub message: String,
    /// Whether another attempt later may succeed.
    pub retryable: bool,
}

impl CallError {
    /// Reads an SDK error of any operation of Personalize or S3.
    pub fn new<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match &error {
            SdkError::ServiceError(service) => {
                let code = service.err().code().map(str::to_owned);
                let status = service.raw().status().as_u16();
                let retryable = status >= 500
                    || status == 429
                    || code
                        .as_deref()
                        .is_some_and(|c| RETRYABLE_CODES.contains(&c));
                let message = service
                    .err()
                    .message()
                    .map_or_else(|| service.err().to_string(), str::to_owned);
                Self {
                    operation,
                    code,
                    message,
                    retryable,
                }
            }
            // The request never got an answer: a timeout, a connection refused or reset, or an
            // answer that could not be read. All of these pass with time.
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => Self {
                operation,
                code: None,
                message: error_chain(&error),
                retryable: true,
            },
            _ => Self {
                operation,
                code: None,
                message: error_chain(&error),
                retryable: false,
            },
        }
    }

    /// Whether the service answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl From<CallError> for StepError {
    fn from(error: CallError) -> Self {
        if error.retryable {
            Self::RetryableConflict(error.to_string())
        } else {
            Self::InvalidRequest(error.to_string())
        }
    }
}

/// The error and its sources on one line: the SDK's own `Display` says only "dispatch failure".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_reaches_lambda_under_its_own_name_with_its_message() {
        let cases = [
            (StepError::retryable("busy"), "RetryableConflict"),
            (StepError::invalid("bad field"), "InvalidRequest"),
            (
                StepError::ResourceFailed("import failed".into()),
                "ResourceFailed",
            ),
        ];
        for (error, name) in cases {
            let message = error.to_string();
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, name);
            assert_eq!(diagnostic.error_message, message);
        }
    }
}
