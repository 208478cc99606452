//! The same binary as an AWS Lambda function (custom runtime `provided.al2023`, file
//! named `bootstrap`): each alarm event that is a transition into ALARM runs
//! `remediate` once. `lambda_runtime` talks to the Lambda Runtime API; settings come
//! from the function's environment (SHIPWATCH_CLUSTER, SHIPWATCH_SERVICE, …) and, if
//! SHIPWATCH_CONFIG names one, a configuration file shipped in the zip.

use crate::aws::Clients;
use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::remediate::event::{self, Decision};
use crate::remediate::{self, Remediation};
use crate::signals::Abort;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Whether this process is a Lambda function: started by the Lambda service (which
/// sets AWS_LAMBDA_RUNTIME_API) or installed under the custom runtime's file name.
pub fn is_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.is_empty())
        || std::env::args_os()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|f| f == "bootstrap")
            })
            .unwrap_or(false)
}

/// What every invocation shares: settings and clients, built once per execution
/// environment (a cold start), as the Lambda service expects.
struct Function {
    settings: remediate::Settings,
    notify: crate::notify::Settings,
    clients: Clients,
    abort: Abort,
}

/// Runs the function until the Runtime API goes away; the exit code is for a failed
/// start (bad settings), which Lambda reports as an init error.
pub fn main() -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log_line(
                &json!({"level": "error", "message": format!("cannot start the async runtime: {e}")}),
            );
            return crate::exit::INTERNAL;
        }
    };
    let code = rt.block_on(async {
        let f = match init().await {
            Ok(f) => f,
            Err(e) => {
                log_line(&json!({"level": "error", "phase": "init", "error": e.kind(), "message": e.to_string()}));
                return e.exit_code();
            }
        };
        let f = &f;
        match lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| handle(f, ev))).await {
            Ok(()) => crate::exit::OK,
            Err(e) => {
                log_line(&json!({"level": "error", "phase": "runtime", "message": e.to_string()}));
                crate::exit::INTERNAL
            }
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// Settings exactly as `shipwatch remediate` would build them from the same
/// environment (clap reads the SHIPWATCH_* variables), so both paths agree.
async fn init() -> Result<Function, Error> {
    let cli = <Cli as clap::Parser>::try_parse_from(["shipwatch", "remediate"])
        .map_err(|e| Error::Usage(e.to_string().trim().to_owned()))?;
    let Command::Remediate(args) = cli.command else {
        return Err(Error::Usage("internal: not a remediate command".into()));
    };
    let sources = crate::settings::load(&cli.global)?;
    let settings = sources.remediate(&args)?;
    let notify = sources.notify()?;
    let common = sources.common();
    let clients = Clients::connect(&common.aws).await?;
    let abort = Abort::start()?;
    Ok(Function {
        settings,
        notify,
        clients,
        abort,
    })
}

/// One invocation: decide from the event, remediate if asked, log one JSON line,
/// return the result. An event that cannot be read, or a failure before a decision,
/// is returned as the invocation's error (Lambda retries asynchronous invocations;
/// the guards make a retry harmless).
async fn handle(f: &Function, ev: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let request_id = ev.context.request_id.clone();
    let decision = match event::decide(&ev.payload) {
        Ok(d) => d,
        Err(msg) => {
            let message = format!("the event was not understood: {msg}");
            log_line(&json!({"level": "error", "request_id": request_id, "message": message}));
            return Err(message.into());
        }
    };
    let result = match decision {
        Decision::Ignore(trigger, why) => Remediation::ignored(&f.settings, &trigger, why),
        Decision::Act(trigger) => {
            let aws = remediate::Aws {
                clients: &f.clients,
            };
            let mut quiet = |_: &remediate::Step| {};
            match remediate::run(&aws, &f.settings, &trigger, &f.abort, &mut quiet).await {
                Ok(r) => r,
                Err(e) => {
                    log_line(&json!({"level": "error", "request_id": request_id,
                        "alarm": trigger.alarm, "error": e.kind(), "message": e.to_string()}));
                    return Err(e.to_string().into());
                }
            }
        }
    };
    let mut line = summary(&request_id, &result);
    // Sent before the line is logged, so the one line also says what was notified.
    if let Some(event) = super::notify::remediation(&f.notify, &result)
        && f.notify.wants(&event)
        && f.notify.any()
    {
        let sent: Vec<String> = crate::notify::deliver(&f.notify, &event)
            .await
            .iter()
            .map(crate::notify::describe)
            .collect();
        line["notifications"] = json!(sent);
    }
    log_line(&line);
    Ok(serde_json::to_value(&result)?)
}

/// The one structured log line of an invocation (CloudWatch Logs Insights reads its
/// fields): what was decided, which task, why, which guard.
fn summary(request_id: &str, r: &Remediation) -> Value {
    json!({
        "level": if r.exit_code == crate::exit::REMEDIATE_FAILED { "error" } else { "info" },
        "message": r.summary,
        "request_id": request_id,
        "outcome": r.outcome,
        "exit_code": r.exit_code,
        "cluster": r.cluster,
        "service": r.service,
        "alarm": r.trigger.alarm,
        "state_changed_at": r.trigger.state_changed_at,
        "source": r.trigger.source,
        "task": r.task.as_ref().map(|t| &t.id),
        "why": r.why_text,
        "guard": r.guard.as_ref().map(|g| g.guard),
        "replacement": r.replacement.as_ref().map(|x| &x.task),
    })
}

fn log_line(v: &Value) {
    println!("{v}");
}
