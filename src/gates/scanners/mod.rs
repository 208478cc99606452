//! One file per scanner, each holding its gate's command line and the parser for the
//! tool's report, and the registry below that picks a job's gate. Adding a scanner is
//! a file here and a line in [`run`].

pub mod checkov;
pub mod gitleaks;
pub mod npm;
pub mod syft;
pub mod trivy;

use super::report::GateReport;
use super::run::Ctx;
use super::settings::Job;
use crate::error::Result;

/// Runs `job` with its gate's scanner: one line per [`GateKind`](super::model::GateKind).
pub async fn run(ctx: &Ctx, job: Job) -> Result<GateReport> {
    match job {
        Job::Secrets(a) => gitleaks::gate(ctx, a).await,
        Job::Image(a) => trivy::gate(ctx, a).await,
        Job::Sbom(a) => syft::gate(ctx, a).await,
        Job::Iac(a) => checkov::gate(ctx, a).await,
        Job::Deps(a) => npm::gate(ctx, a).await,
    }
}
