//! `shipwatch register`: resolve the image, render, validate and register the task definition.

use super::Ctx;
use super::release::{self, ServiceTarget};
use crate::cli::{Global, OutputFormat, RegisterArgs};
use crate::error::Result;
use crate::exit;

pub async fn run(global: &Global, args: RegisterArgs) -> Result<i32> {
    let ctx = Ctx::load(global).await?;
    let target = ServiceTarget::resolve(&ctx.cfg, &args.service)?;
    let sha = release::resolve_sha(args.sha.sha.clone())?;
    let input = ctx.release_input(
        sha,
        target,
        args.repository.clone(),
        args.mode,
        args.template.clone(),
    )?;
    let rel = release::prepare(&ctx.clients, &ctx.cfg, &input).await?;

    if args.dry_run {
        let current = rel
            .current
            .as_ref()
            .map(|c| c.json.clone())
            .unwrap_or_default();
        match global.output {
            OutputFormat::Json => println!(
                "{}",
                serde_json::json!({"dry_run": true, "image": rel.image, "task_definition": rel.json, "diff": release::diff(&current, &rel.json)})
            ),
            OutputFormat::Text => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rel.json).unwrap_or_default()
                );
                match &rel.current {
                    Some(c) => println!(
                        "\n--- diff against the service's current revision {} ---\n{}",
                        c.arn,
                        release::diff(&c.json, &rel.json)
                    ),
                    None => {
                        println!("\n(the service has no readable current revision to diff against)")
                    }
                }
                eprintln!("dry run: nothing was registered");
            }
        }
        return Ok(exit::OK);
    }

    let (td, reused) = release::register_release(&ctx.clients, &rel).await?;
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"task_definition_arn": td.arn, "revision": td.revision, "reused": reused, "image": rel.image, "sha": rel.sha, "tag": rel.tag})
        ),
        OutputFormat::Text => {
            if reused {
                eprintln!("the latest revision already matches the render; reusing it");
            } else {
                eprintln!("registered {} with image {}", td.arn, rel.image);
            }
            println!("{}", td.arn);
        }
    }
    Ok(exit::OK)
}
