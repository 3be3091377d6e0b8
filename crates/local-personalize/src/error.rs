//! The errors the service answers, as the AWS JSON protocol names them.

/// An error answered to a caller: its `__type` on the wire and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A field is missing, malformed or not allowed in this state of the data.
    #[error("{0}")]
    InvalidInput(String),
    /// No resource has the ARN given.
    #[error("{0}")]
    ResourceNotFound(String),
    /// The name is taken in this account and region.
    #[error("{0}")]
    ResourceAlreadyExists(String),
    /// The resource is busy: still creating, being deleted, or has children.
    #[error("{0}")]
    ResourceInUse(String),
    /// A service quota would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// A `nextToken` that no list of this kind handed out.
    #[error("{0}")]
    InvalidNextToken(String),
    /// A resource would carry more than the allowed number of tags.
    #[error("{0}")]
    TooManyTags(String),
    /// The `X-Amz-Target` names no operation of the service model.
    #[error("{0}")]
    UnknownOperation(String),
    /// The request breaks a constraint of the service model, for an operation whose modelled
    /// errors have no `InvalidInputException` to say so.
    #[error("{0}")]
    Validation(String),
    /// The request body is not a JSON object.
    #[error("{0}")]
    Serialization(String),
    /// An error a fault rule asked for, with whatever type the rule named.
    #[error("{message}")]
    Injected {
        /// The `__type` to answer, such as `ThrottlingException`.
        error_type: String,
        /// The message to answer.
        message: String,
    },
    /// The emulator itself failed (its state could not be read or written).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The error's `__type`, as the AWS SDKs match it.
    pub fn error_type(&self) -> &str {
        match self {
            Self::InvalidInput(_) => "InvalidInputException",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            Self::ResourceInUse(_) => "ResourceInUseException",
            Self::LimitExceeded(_) => "LimitExceededException",
            Self::InvalidNextToken(_) => "InvalidNextTokenException",
            Self::TooManyTags(_) => "TooManyTagsException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Validation(_) => "ValidationException",
            Self::Serialization(_) => "SerializationException",
            Self::Injected { error_type, .. } => error_type,
            Self::Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status the service answers this error with.
    pub fn http_status(&self) -> u16 {
        match self.error_type() {
            "InternalFailure" | "InternalServerError" | "ServiceException" => 500,
            "ServiceUnavailable" | "ServiceUnavailableException" => 503,
            _ => 400,
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Internal(format!("emulator state: {err}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        Self::Internal(format!("emulator state is not valid JSON: {err}"))
    }
}
