//! A local Step Functions: runs Amazon States Language definitions (JSONPath) in process, on
//! the shared simulated clock, so that the very definition deployed to AWS runs in tests and
//! offline.
//!
//! - [`definition`]: reading a definition and refusing what Step Functions would refuse, naming
//!   the state and field at fault;
//! - [`execution`]: the [`Runner`], which runs executions with their history, billed
//!   transitions, retries, catchers, timeouts, stops and redrives;
//! - [`functions`]: the Lambda functions Task states call (async Rust handlers, registered by
//!   name) and the notifier that records SNS messages;
//! - [`history`]: history events as `GetExecutionHistory` gives them;
//! - [`path`]: reference paths and JSONPath as Step Functions evaluates them (Jayway), and the
//!   payload templates of `Parameters` and `ResultSelector` (`.$` keys);
//! - [`intrinsics`]: the `States.*` intrinsic functions;
//! - [`choice`]: Choice rules and their comparisons;
//! - [`api`]: the Step Functions API (AWS JSON 1.0) that the local endpoint serves: state
//!   machines and executions, saved in the endpoint's state database (tables `sfn_*`) so that
//!   they survive a restart.

pub mod api;
pub mod choice;
pub mod definition;
pub mod error;
pub mod execution;
pub mod functions;
pub mod history;
pub mod intrinsics;
pub mod path;
mod store;

pub use api::StepFunctions;
pub use definition::{Definition, DefinitionError};
pub use error::StatesError;
pub use execution::{
    Execution, ExecutionInfo, ExecutionRecord, ExecutionStatus, NotRedrivable, Runner,
};
pub use functions::{FunctionError, Functions, Notification, Notifier};
pub use history::HistoryEvent;
pub use store::StoreError;
