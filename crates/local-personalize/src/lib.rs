//! A local Amazon Personalize endpoint: dataset groups, schemas, datasets, import jobs,
//! solutions and their versions, campaigns, event trackers, filters, batch inference jobs,
//! recipes and tags, served over the AWS JSON 1.1 protocol the SDKs speak.
//!
//! It behaves like the service where a refresh pipeline depends on it: resources step through
//! `CREATE PENDING`, `CREATE IN_PROGRESS` and `ACTIVE` (or `CREATE FAILED`) on a simulated
//! clock; import jobs read real CSV files from a folder that stands for S3 and check them
//! against the dataset's Avro schema; solution versions train a real (simple) model on the
//! imported data and measure it on a hold-out; campaigns take time to deploy and keep serving
//! the old version meanwhile; solutions retrain themselves on a schedule; names and quotas are
//! enforced, and fault rules make chosen calls or jobs fail. State lives in SQLite.
//!
//! ```no_run
//! use local_personalize::{Config, Personalize};
//! use sim_clock::Clock;
//!
//! let config = Config::new(Some("state.db".into()), "s3-root");
//! let personalize = Personalize::open(config, Clock::real()).expect("state opens");
//! let answer = personalize.call("us-east-1", "ListSchemas", &serde_json::json!({}));
//! ```

mod error;
mod faults;
mod lifecycle;
mod model;
mod ops;
mod service;
mod store;
pub mod training;
mod wire;

pub use dataset_files::{schema, validate};

pub use error::ApiError;
pub use faults::FaultRule;
pub use lifecycle::{
    ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING, CREATE_STOPPED, CREATE_STOPPING,
    DELETE_IN_PROGRESS, DELETE_PENDING, Durations, ImportModel, Phases, TrainingModel,
};
pub use ops::{
    ACTIVE_CAMPAIGN_QUOTA, IMPORT_JOB_QUOTA, MIN_INTERACTIONS, SERVED_OPERATIONS, TRAINING_QUOTA,
};
pub use service::{Config, DEFAULT_ACCOUNT, OpenError, Personalize};
pub use store::DatasetRecord;
pub use wire::{DEFAULT_REGION, TARGET_PREFIX, error_response, signing_region, target_operation};
