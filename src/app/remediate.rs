//! `shipwatch remediate`: settings in, the alarm's current state change read, the
//! remediation run under the signal handler, its steps printed as they happen.

use crate::aws::Clients;
use crate::cli::remediate::RemediateArgs;
use crate::error::{Error, Result};
use crate::remediate::guard::Trigger;
use crate::remediate::{self, render};
use crate::settings::Sources;
use crate::signals::Abort;

pub async fn run(sources: &Sources, args: RemediateArgs) -> Result<i32> {
    let settings = sources.remediate(&args)?;
    let notify = sources.notify()?;
    let common = sources.common();
    let clients = Clients::connect(&common.aws).await?;
    let trigger = trigger(&clients, sources.remediate_alarm(&args)).await?;
    let abort = Abort::start()?;
    let json = common.json;
    let aws = remediate::Aws { clients: &clients };
    if !json {
        println!("{}", header_for(&settings, &trigger));
    }
    let mut on_step = |s: &remediate::Step| {
        if !json {
            println!("{}", render::step_line(s));
        }
    };
    let r = remediate::run(&aws, &settings, &trigger, &abort, &mut on_step).await?;
    if json {
        println!("{}", render::json(&r));
    } else {
        println!("{}", render::footer(&r));
    }
    // A notification never changes the exit code; a signal while sending does.
    if let Some(event) = super::notify::remediation(&notify, &r)
        && let Some(signo) = super::notify::send(&notify, &event).await
    {
        return Ok(128 + signo);
    }
    Ok(r.exit_code)
}

fn header_for(s: &remediate::Settings, t: &Trigger) -> String {
    render::header(&remediate::Remediation::ignored(s, t, String::new()))
}

/// The trigger of a command-line run: the named alarm's current state change, read
/// from CloudWatch, so a run by hand and the Lambda function for the same state change
/// share one key.
async fn trigger(clients: &Clients, alarm: Option<String>) -> Result<Trigger> {
    let Some(name) = alarm else {
        return Ok(Trigger {
            source: "command".into(),
            ..Trigger::default()
        });
    };
    let a = crate::aws::alarm_state::alarm_state(clients, &name)
        .await?
        .ok_or_else(|| {
            Error::Usage(format!(
                "alarm `{name}` was not found in CloudWatch (region {}). Check --alarm / [remediate] alarm and the region.",
                clients.region
            ))
        })?;
    if a.state != "ALARM" {
        tracing::warn!(
            "alarm {name} is {} now, not ALARM; remediating for its last state change anyway",
            a.state
        );
    }
    Ok(Trigger {
        alarm: Some(a.name),
        state_changed_at: a.changed_at,
        alarm_reason: a.reason,
        source: "command".into(),
    })
}
