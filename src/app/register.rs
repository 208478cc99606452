//! `shipwatch register`: resolve the image, render, validate and register the task
//! definition, or with `--dry-run` show the render and its diff.

use crate::aws::Clients;
use crate::cli::RegisterArgs;
use crate::deploy::release;
use crate::error::Result;
use crate::exit;
use crate::settings::Sources;

pub async fn run(sources: &Sources, args: RegisterArgs) -> Result<i32> {
    let target = sources.target(&args.service)?;
    let settings = sources.release(
        args.sha.sha.clone(),
        args.repository.clone(),
        args.mode,
        args.template.clone(),
    )?;
    let sha = release::resolve_sha(settings.sha.clone())?;
    let common = sources.common();
    let clients = Clients::connect(&common.aws).await;
    let input = settings.input(sha, target, clients.region.clone());
    let rel = release::prepare(&clients, &input).await?;

    if args.dry_run {
        let current = rel
            .current
            .as_ref()
            .map(|c| c.json.clone())
            .unwrap_or_default();
        if common.json {
            println!(
                "{}",
                serde_json::json!({"dry_run": true, "image": rel.image, "task_definition": rel.json, "diff": release::diff(&current, &rel.json)})
            );
        } else {
            {
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

    let (td, reused) = release::register_release(&clients, &rel).await?;
    if common.json {
        println!(
            "{}",
            serde_json::json!({"task_definition_arn": td.arn, "revision": td.revision, "reused": reused, "image": rel.image, "sha": rel.sha, "tag": rel.tag})
        );
    } else {
        {
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
