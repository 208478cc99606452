//! The JSON findings: the whole [`GateReport`], compact, for scripts and later runs.

use crate::gates::report::GateReport;
use std::io;

/// The report as JSON, streamed into `w`.
pub fn write_json<W: io::Write>(r: &GateReport, w: &mut W) -> io::Result<()> {
    Ok(serde_json::to_writer(w, r)?)
}
