//! Log analysis, with no AWS in it: reading lines (JSON or plain text), a borrowed JSON
//! tree, trace ids, message normalisation, secret redaction and grouping of error lines.
//! The rollback report uses it for CloudWatch Logs and for exported log files alike;
//! `input` tells compression and JSON documents from lines before the analysis.

pub mod analyse;
pub mod filter;
#[cfg(test)]
mod fixtures;
pub mod input;
pub mod jaeger;
pub mod json;
pub mod logline;
pub mod model;
pub mod normalise;
pub mod redact;
pub mod timing;
pub mod traceid;
