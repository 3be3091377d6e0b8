//! What `Task` states call locally: Lambda functions registered as async Rust handlers, and a
//! notifier that records what the SNS `publish` integration would have sent.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde_json::{Value, json};

/// A Lambda function's failure as Lambda reports it: `errorType` names it (the name `Retry` and
/// `Catch` match), `errorMessage` says what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// The error's name, such as `RetryableConflict`.
    pub error_type: String,
    /// What happened, in words.
    pub error_message: String,
}

impl FunctionError {
    /// A failure of any name.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }

    /// The body Lambda answers a failed invocation with, which Step Functions passes on as the
    /// cause of the error.
    pub fn to_body(&self) -> Value {
        json!({"errorType": self.error_type, "errorMessage": self.error_message})
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// The future a registered function returns.
pub type FunctionFuture = Pin<Box<dyn Future<Output = Result<Value, FunctionError>> + Send>>;

type Handler = Arc<dyn Fn(Value) -> FunctionFuture + Send + Sync>;

/// The Lambda functions of a local run, by function name. Cloning is cheap and clones share
/// the same functions.
#[derive(Clone, Default)]
pub struct Functions {
    handlers: Arc<Mutex<HashMap<String, Handler>>>,
}

impl fmt::Debug for Functions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = self.names();
        names.sort();
        f.debug_struct("Functions").field("names", &names).finish()
    }
}

impl Functions {
    /// No functions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f` as the function `name`, replacing any function of that name.
    pub fn register<F, Fut>(&mut self, name: &str, f: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, FunctionError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |payload| Box::pin(f(payload)));
        self.lock().insert(name.to_owned(), handler);
    }

    /// The names of the registered functions.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Whether a function answers to `name_or_arn`.
    pub fn contains(&self, name_or_arn: &str) -> bool {
        self.lock().contains_key(function_name(name_or_arn))
    }

    /// Calls the function named by `name_or_arn` (a name, or a full or partial ARN with an
    /// optional version or alias) with `payload`; `None` when no such function is registered.
    pub fn call(&self, name_or_arn: &str, payload: Value) -> Option<FunctionFuture> {
        let handler = self.lock().get(function_name(name_or_arn)).cloned()?;
        Some(handler(payload))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Handler>> {
        self.handlers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The function name in a name or ARN: `arn:aws:lambda:us-east-1:123456789012:function:f:1`,
/// `123456789012:function:f` and `f` all give `f`.
pub fn function_name(name_or_arn: &str) -> &str {
    let parts: Vec<&str> = name_or_arn.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(at) if at + 1 < parts.len() => parts[at + 1],
        _ => parts[0],
    }
}

/// A message the SNS `publish` integration sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The topic it was published to.
    pub topic_arn: String,
    /// The subject, when one was given.
    pub subject: Option<String>,
    /// The message text (a JSON object given as `Message` is sent as its JSON text).
    pub message: String,
    /// The id SNS would have answered with.
    pub message_id: String,
    /// When it was published, by the run's clock.
    pub time: SystemTime,
}

/// Records every SNS message published by the runs that share it. Cloning is cheap and clones
/// share the record.
///
/// It also stands for the EventBridge rule a deployment adds to send Step Functions' execution
/// status changes to a topic: once [`Notifier::route_status_changes`] names a topic, every
/// execution that ends `FAILED`, `TIMED_OUT` or `ABORTED` publishes its status change there,
/// as the event's `detail` (`executionArn`, `stateMachineArn`, `name`, `status`, `startDate`
/// and `stopDate` in epoch milliseconds, `input`, `output`, `error`, `cause`).
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    messages: Arc<Mutex<Vec<Notification>>>,
    status_topic: Arc<Mutex<Option<String>>>,
}

/// The subject of a status change's message: the EventBridge event's `detail-type`.
pub const STATUS_CHANGE_SUBJECT: &str = "Step Functions Execution Status Change";

impl Notifier {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends the status change of every execution that ends other than `SUCCEEDED` to
    /// `topic_arn` from now on.
    pub fn route_status_changes(&self, topic_arn: impl Into<String>) {
        *self
            .status_topic
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(topic_arn.into());
    }

    /// The topic status changes go to, if any.
    pub fn status_topic(&self) -> Option<String> {
        self.status_topic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every message published so far, oldest first.
    pub fn messages(&self) -> Vec<Notification> {
        self.lock().clone()
    }

    /// Records a message.
    pub fn publish(&self, notification: Notification) {
        self.lock().push(notification);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Notification>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_from_names_and_arns() {
        assert_eq!(function_name("f"), "f");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:f"),
            "f"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:f:live"),
            "f"
        );
        assert_eq!(function_name("123456789012:function:f"), "f");
    }

    #[tokio::test]
    async fn registered_functions_are_called_by_arn() {
        let mut functions = Functions::new();
        functions.register("double", |v: Value| async move {
            Ok(json!(v.as_i64().unwrap_or_default() * 2))
        });
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:double";
        assert!(functions.contains(arn));
        assert_eq!(functions.call(arn, json!(21)).unwrap().await, Ok(json!(42)));
        assert!(functions.call("missing", json!(1)).is_none());
    }
}
