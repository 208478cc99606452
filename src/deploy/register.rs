//! `shipwatch register`: resolve the image, render, validate and register the task definition.

use crate::cli::{Global, RegisterArgs};
use crate::error::{Error, Result};

pub async fn run(_global: &Global, _args: RegisterArgs) -> Result<i32> {
    Err(Error::Usage("`shipwatch register` is not available in this build yet.".into()))
}
