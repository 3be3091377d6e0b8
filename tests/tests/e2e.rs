//! The end-to-end tests, one module per area of the local endpoint and one (`steps`) for the
//! pipeline's steps run against it, built as one test binary: each module would otherwise be a
//! binary of its own, linking the SDK clients again. Run one area with
//! `cargo test -p e2e-tests -- <module>::`.

mod asl_corpus;
mod batch_inference;
mod campaigns;
mod conformance;
mod errors;
mod faults;
mod import_failures;
mod imports;
mod lifecycles;
mod operations;
mod pagination;
mod refresh;
mod refresh_moto;
mod s3;
mod s3_events;
mod solutions;
mod stepfunctions_api;
mod steps;
mod template;
mod trackers_filters_recipes;
mod training;
