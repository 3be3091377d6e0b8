//! The refresh pipeline's logic, shared by its Lambda functions and the local runner: the
//! pipeline config and run request (with their JSON Schemas), the errors Step Functions tells
//! apart, and one handler per step.
//!
//! - [`steps::start_import`] makes sure the dataset group, schemas, datasets and event tracker
//!   exist, checks the data, and starts the run's import jobs.
//! - [`steps::poll_status`] says how an import job, solution version or campaign is doing,
//!   and how long to wait before asking again.
//! - [`steps::create_version`] makes sure the solution exists and starts the run's FULL or
//!   UPDATE training.
//! - [`steps::update_campaign`] gates a new solution version on its offline metrics and
//!   deploys it.
//!
//! Every step can be called again with the same event: it finds what an earlier call started
//! (resources are named from the run's `runId`) and carries on. Handlers are plain `async fn`s
//! over [`Deps`], so a Lambda function's `main` and the tests call the very same code.

pub mod config;
pub mod deps;
pub mod error;
pub mod names;
pub mod request;
pub mod run;
pub mod s3;
pub mod service;
pub mod steps;
pub mod uri;

pub use deps::{Deps, Settings};
pub use error::StepError;
