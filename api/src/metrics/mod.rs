//! Prometheus metrics: the process-wide recorder, the `/metrics` rendering,
//! and the small helpers and guards the rest of the code records through.
//!
//! The recorder is installed once per process ([`install`]); every `App` in
//! the process (tests start many) renders the same handle. Recording before
//! installation, or with `METRICS_ENABLED=false`, costs next to nothing: the
//! `metrics` facade then has no recorder and drops the values.
//!
//! Label values are bounded: operation names are capped at
//! [`MAX_OPERATION_NAMES`] distinct values (the rest, and anonymous or
//! unknown operations, are `other`), outcomes are `ok` or an error code.
//!
//! `names.rs` declares every metric (its name, label values and help
//! text; deploy/checks.py reads the names from it), `recorder.rs` installs
//! and renders the recorder, `record.rs` holds what the rest of the code
//! records through.

mod names;
mod record;
mod recorder;

pub use names::*;
pub(crate) use record::*;
pub(crate) use recorder::{install, render};
