//! A local Step Functions: runs Amazon States Language definitions (JSONPath) in process, on
//! the shared simulated clock, so that the very definition deployed to AWS runs in tests and
//! offline.
//!
//! So far it holds the data-handling parts of the language, each checked against the
//! documented behaviour of Step Functions:
//!
//! - [`path`]: reference paths and JSONPath as Step Functions evaluates them (Jayway), and the
//!   payload templates of `Parameters` and `ResultSelector` (`.$` keys);
//! - [`intrinsics`]: the `States.*` intrinsic functions;
//! - [`choice`]: Choice rules and their comparisons.

pub mod choice;
pub mod error;
pub mod intrinsics;
pub mod path;

pub use error::StatesError;
