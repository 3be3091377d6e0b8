//! The pipeline's steps, one module per Lambda function. Each has a typed entry point that
//! tests call and a `handle` that takes and answers raw JSON, as Lambda and the local runner
//! call it.

pub mod create_version;
pub mod poll_status;
pub mod start_import;
pub mod update_campaign;
