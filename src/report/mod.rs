//! The rollback report: collect evidence after a rollback and explain it.

pub mod args;

use crate::cli::Global;
use crate::error::{Error, Result};

pub async fn run(_global: &Global, _args: args::ReportArgs) -> Result<i32> {
    Err(Error::Usage("`shipwatch report` is not available in this build yet.".into()))
}
