//! The deploy path: register → blue/green deploy → watch → outcome.

pub mod register;

use crate::cli::{DeployArgs, Global, StopArgs, WatchArgs};
use crate::error::{Error, Result};

pub async fn run_deploy(_global: &Global, _args: DeployArgs) -> Result<i32> {
    Err(Error::Usage("`shipwatch deploy` is not available in this build yet.".into()))
}

pub async fn run_watch(_global: &Global, _args: WatchArgs) -> Result<i32> {
    Err(Error::Usage("`shipwatch watch` is not available in this build yet.".into()))
}

pub async fn run_stop(_global: &Global, _args: StopArgs) -> Result<i32> {
    Err(Error::Usage("`shipwatch stop` is not available in this build yet.".into()))
}
