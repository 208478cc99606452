//! `shipwatch register`: resolve the image, render, validate and register the task
//! definition, or with `--dry-run` show the render and its diff.

use crate::aws::Clients;
use crate::cli::RegisterArgs;
use crate::deploy::release;
use crate::error::{Error, Result};
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
    let clients = Clients::connect(&common.aws).await?;
    let input = settings.input(sha, target, clients.region.clone());
    let abort = crate::signals::Abort::start()?;
    // Reads only until the registration: a signal drops them, nothing changed.
    let rel = tokio::select! {
        r = release::prepare(&clients, &input) => r?,
        sig = abort.wait() => return Err(interrupted(sig, "before anything was registered; nothing was changed in AWS.".into())),
    };

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

    let family = rel
        .json
        .get("family")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut registering = std::pin::pin!(release::register_release(&clients, &rel));
    let (td, reused) = tokio::select! {
        r = registering.as_mut() => r?,
        sig = abort.wait() => {
            // The registration gets the grace deploy's mutating calls get, so the
            // message can name what exists.
            let grace = crate::settings::defaults::SIGNAL_GRACE;
            let what = match tokio::time::timeout(grace, registering).await {
                Ok(Ok((td, true))) => format!("while registering; the latest revision {} already matched the render, so nothing new was registered.", td.arn),
                Ok(Ok((td, false))) => format!("while registering; the call finished: {} is registered, and nothing is deployed with it.", td.arn),
                Ok(Err(e)) => format!("while registering; the registration failed, so nothing was registered: {e}"),
                Err(_) => format!("while registering; RegisterTaskDefinition did not answer within {} s, so a new revision of `{family}` may exist: check with `aws ecs describe-task-definition --task-definition {family}`. Nothing is deployed with it.", grace.as_secs()),
            };
            return Err(interrupted(sig, what));
        }
    };
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

fn interrupted(signal: i32, what: String) -> Error {
    Error::Interrupted {
        signal,
        message: format!(
            "register was interrupted by {} {what}",
            crate::signals::name(signal)
        ),
    }
}
