//! The deploy path: register → blue/green deploy → watch → outcome, plus `watch` and
//! `stop`. This file is glue: settings, preflight, signals and the final summary; the
//! loop lives in `engine`, decisions in `decide`, output in `progress`.

pub mod appspec;
pub mod clock;
pub mod decide;
pub mod engine;
pub mod events;
pub mod progress;
pub mod register;
pub mod release;
pub mod render;
pub mod state;

use crate::aws::model::{Deployment, DeploymentGroup};
use crate::aws::{Clients, cloudwatch, codedeploy, ecs};
use crate::cli::{DeployArgs, Global, OutputFormat, StopArgs, WatchArgs, WatchOpts};
use crate::config::{Config, Dur, RenderMode};
use crate::error::{Error, Result};
use crate::exit;
use decide::Outcome;
use engine::{WatchOptions, Watched};
use events::{Event, Sink};
use release::{ReleaseInput, ServiceTarget};
use state::State;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const DEFAULT_DEPLOYMENT_CONFIG: &str = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes";
pub const DEFAULT_STATE_FILE: &str = "shipwatch-out/deploy-state.json";

/// Configuration and clients, loaded once per command.
pub struct Ctx {
    pub cfg: Config,
    pub clients: Clients,
}

impl Ctx {
    pub async fn load(global: &Global) -> Result<Ctx> {
        let cfg = crate::config::load(
            &global.config,
            global.environment.as_deref(),
            global.config_explicit(),
        )?;
        let region = cfg.layer.service.as_ref().and_then(|s| s.region.clone());
        let clients = Clients::connect(&global.aws, region.as_deref()).await;
        Ok(Ctx { cfg, clients })
    }

    pub fn release_input(
        &self,
        sha: String,
        target: ServiceTarget,
        repository: Option<String>,
        mode: Option<RenderMode>,
        template: Option<PathBuf>,
    ) -> Result<ReleaseInput> {
        let td = self.cfg.layer.task_definition.clone().unwrap_or_default();
        let mode = mode
            .or(td.mode)
            .unwrap_or(if td.template.is_some() || template.is_some() {
                RenderMode::Template
            } else {
                RenderMode::Current
            });
        Ok(ReleaseInput {
            sha,
            repository: repository
                .or(self
                    .cfg
                    .layer
                    .image
                    .as_ref()
                    .and_then(|i| i.repository.clone()))
                .ok_or_else(|| self.cfg.missing("image.repository", "--repository"))?,
            mode,
            // A flag path is relative to the working directory; a file path to the file.
            template: template.or(td.template.map(|t| self.cfg.resolve_path(&t))),
            target,
            region: self.clients.region.clone(),
            environment: self.cfg.environment.clone().unwrap_or_default(),
        })
    }

    fn application(&self, flag: Option<String>) -> Result<String> {
        flag.or(self
            .cfg
            .layer
            .codedeploy
            .as_ref()
            .and_then(|c| c.application.clone()))
            .ok_or_else(|| self.cfg.missing("codedeploy.application", "--application"))
    }

    fn group(&self, flag: Option<String>) -> Result<String> {
        flag.or(self
            .cfg
            .layer
            .codedeploy
            .as_ref()
            .and_then(|c| c.deployment_group.clone()))
            .ok_or_else(|| {
                self.cfg
                    .missing("codedeploy.deployment_group", "--deployment-group")
            })
    }

    /// Watch options from flags over `[watch]` over defaults.
    fn watch_options(&self, o: &WatchOpts, group: &DeploymentGroup) -> WatchOptions {
        let w = self.cfg.layer.watch.clone().unwrap_or_default();
        let d = WatchOptions::default();
        let dur = |flag: Option<Duration>, file: Option<Dur>, default: Duration| {
            flag.or(file.map(|x| x.0)).unwrap_or(default)
        };
        let poll = dur(o.poll_interval, w.poll_interval, d.poll);
        WatchOptions {
            alarms: if !o.alarms.is_empty() {
                o.alarms.clone()
            } else {
                w.alarms.clone().unwrap_or_else(|| group.alarms.clone())
            },
            stop_on_alarm: !o.no_stop_on_alarm && w.stop_on_alarm.unwrap_or(true),
            poll,
            alarm_poll: dur(o.alarm_poll_interval, w.alarm_poll_interval, d.alarm_poll),
            deployment_poll: d.deployment_poll.max(poll),
            termination_wait: group
                .termination_wait_minutes
                .map(|m| Duration::from_secs(m.max(0) as u64 * 60)),
            tick: dur(o.heartbeat, w.heartbeat, d.tick),
            timeout: o
                .timeout
                .or(self
                    .cfg
                    .layer
                    .codedeploy
                    .as_ref()
                    .and_then(|c| c.timeout.map(|t| t.0)))
                .unwrap_or(d.timeout),
            ..d
        }
    }

    fn state_file(&self, flag: Option<PathBuf>) -> PathBuf {
        flag.or(self
            .cfg
            .layer
            .watch
            .as_ref()
            .and_then(|w| w.state_file.clone()))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_FILE))
    }

    fn report_dir(&self, flag: Option<PathBuf>) -> PathBuf {
        flag.or(self
            .cfg
            .layer
            .report
            .as_ref()
            .and_then(|r| r.output_dir.clone()))
            .unwrap_or_else(|| PathBuf::from("shipwatch-out/report"))
    }
}

/// Builds the reporter for this run (bar, plain lines or JSON lines).
fn reporter(global: &Global, heartbeat: Duration) -> Box<dyn Sink + Send> {
    match progress::choose(
        global.output == OutputFormat::Json,
        std::io::stderr().is_terminal(),
        progress::in_ci(),
    ) {
        progress::Kind::Json => Box::new(progress::Json(std::io::stdout())),
        progress::Kind::Bar => Box::new(progress::Bar::new()),
        progress::Kind::Plain => Box::new(progress::Plain::new(std::io::stderr(), heartbeat)),
    }
}

/// Keeps the state file in step with what the engine reports.
struct StateKeeper {
    shared: Arc<Mutex<Option<(State, PathBuf)>>>,
}

impl Sink for StateKeeper {
    fn emit(&mut self, _elapsed: Duration, e: &Event) {
        let mut guard = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, path)) = guard.as_mut() {
            let changed = match e {
                Event::Status {
                    deployment_id,
                    status,
                } if *deployment_id == s.deployment_id => {
                    s.status = status.clone();
                    true
                }
                Event::RollbackStarted { rollback_id, .. } => {
                    s.rollback_deployment_id = Some(rollback_id.clone());
                    true
                }
                _ => false,
            };
            if changed {
                if let Err(err) = s.save(path) {
                    tracing::warn!("cannot update the state file: {err}");
                }
            }
        }
    }
}

/// Reads the sha a deployment description carries (`sha=<hex>`).
pub fn sha_of(description: Option<&str>) -> Option<String> {
    let re = regex::Regex::new(r"\bsha=([0-9a-f]{7,40})\b").expect("static regex");
    re.captures(description?).map(|c| c[1].to_owned())
}

/// The description CodeDeploy shows: sha, build URL, hotfix reason and user (≤ 256 chars).
pub fn description(
    sha: Option<&str>,
    td_arn: &str,
    build_url: Option<&str>,
    hotfix: Option<(&str, &str)>,
) -> String {
    let family_rev = td_arn.rsplit('/').next().unwrap_or(td_arn);
    let mut d = String::from("shipwatch");
    if let Some(s) = sha {
        d.push_str(&format!(" sha={s}"));
    }
    d.push_str(&format!(" td={family_rev}"));
    if let Some((user, reason)) = hotfix {
        d.push_str(&format!(" HOTFIX by {user}: {reason}"));
    }
    if let Some(u) = build_url {
        d.push_str(&format!(" build={u}"));
    }
    if d.len() > 256 {
        let mut cut = 253;
        while !d.is_char_boundary(cut) {
            cut -= 1;
        }
        d.truncate(cut);
        d.push_str("...");
    }
    d
}

/// Preflight checks on the group and service; nothing is changed.
fn check_group(group: &DeploymentGroup, target: &ServiceTarget, controller: &str) -> Result<()> {
    if group.compute_platform.as_deref() != Some("ECS") || !group.blue_green {
        return Err(Error::Precondition(format!(
            "deployment group `{}` is not an ECS blue/green group (platform {}, blue/green {}); shipwatch deploys ECS services through CodeDeploy blue/green.",
            group.name,
            group.compute_platform.as_deref().unwrap_or("unknown"),
            group.blue_green
        )));
    }
    if !group
        .services
        .iter()
        .any(|(c, s)| c == &target.cluster && s == &target.service)
    {
        return Err(Error::Precondition(format!(
            "deployment group `{}` deploys {} but the configured service is {}/{}; fix [service] or [codedeploy] so they match.",
            group.name,
            group
                .services
                .iter()
                .map(|(c, s)| format!("{c}/{s}"))
                .collect::<Vec<_>>()
                .join(", "),
            target.cluster,
            target.service
        )));
    }
    if controller != "CODE_DEPLOY" {
        return Err(Error::Precondition(format!(
            "service {}/{} uses the {controller} deployment controller; blue/green through CodeDeploy needs CODE_DEPLOY (set when the service is created).",
            target.cluster, target.service
        )));
    }
    Ok(())
}

/// What to do about deployments already active in the group.
enum Active {
    None,
    /// Same sha: watch it instead of creating another.
    Attach(Deployment),
}

async fn check_active(c: &Clients, app: &str, group: &str, sha: Option<&str>) -> Result<Active> {
    for id in codedeploy::list_active(c, app, group).await? {
        let d = codedeploy::get_deployment(c, &id).await?;
        if !d.status.is_active() {
            continue;
        }
        let theirs = sha_of(d.description.as_deref());
        if sha.is_some() && theirs.as_deref() == sha {
            return Ok(Active::Attach(d));
        }
        return Err(Error::Precondition(format!(
            "deployment {id} ({}) is already {} in group {group}{}. CodeDeploy runs one deployment per group: wait for it (`shipwatch watch {id}`) or stop it (`shipwatch stop {id}`), then retry.",
            theirs
                .map(|s| format!("sha {s}"))
                .unwrap_or_else(|| "not started by shipwatch".into()),
            d.status,
            d.description
                .as_deref()
                .map(|x| format!(": \"{x}\""))
                .unwrap_or_default()
        )));
    }
    Ok(Active::None)
}

async fn check_alarms(c: &Clients, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let alarms = cloudwatch::describe_alarms(c, names).await?;
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !alarms.iter().any(|a| &a.name == *n))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Precondition(format!(
            "watched alarm(s) {} do not exist in region {}; fix [watch] alarms or the deployment group's alarm configuration.",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            c.region
        )));
    }
    if let Some(a) = alarms.iter().find(|a| a.state == "ALARM") {
        return Err(Error::Precondition(format!(
            "alarm {} is already in ALARM ({}); a deployment now would be stopped at once. Find out why it fires, or wait until it is OK.",
            a.name,
            a.reason.as_deref().unwrap_or("no reason given")
        )));
    }
    Ok(())
}

/// Races `fut` against SIGINT/SIGTERM. On a signal, the state file is flushed and the
/// way to stop the deployment printed; the in-flight AWS call is simply dropped.
async fn with_signals<T>(
    shared: &Arc<Mutex<Option<(State, PathBuf)>>>,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::Internal(e.into()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Internal(e.into()))?;
    let signo = tokio::select! {
        r = fut => return r,
        _ = term.recv() => 15,
        _ = int.recv() => 2,
    };
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    let message = match guard.as_mut() {
        Some((s, path)) => {
            s.status = "interrupted".into();
            let saved = match s.save(path) {
                Ok(()) => format!("state saved to {}", path.display()),
                Err(e) => format!("the state file could not be written ({e})"),
            };
            format!(
                "interrupted by signal {signo} while watching deployment {}; it is still running in CodeDeploy ({saved}). To stop it and roll back: shipwatch stop {} (or: shipwatch stop --state-file {}).",
                s.deployment_id,
                s.deployment_id,
                path.display()
            )
        }
        None => format!(
            "interrupted by signal {signo} before a deployment was created; nothing was started by this run."
        ),
    };
    Err(Error::Interrupted {
        signal: signo,
        message,
    })
}

pub async fn run_deploy(global: &Global, args: DeployArgs) -> Result<i32> {
    let shared = Arc::new(Mutex::new(None));
    with_signals(&shared, deploy(global, args, shared.clone())).await
}

async fn deploy(
    global: &Global,
    args: DeployArgs,
    shared: Arc<Mutex<Option<(State, PathBuf)>>>,
) -> Result<i32> {
    let ctx = Ctx::load(global).await?;
    let c = &ctx.clients;
    let target = ServiceTarget::resolve(&ctx.cfg, &args.service)?;
    let app = ctx.application(args.codedeploy.application.clone())?;
    let group_name = ctx.group(args.codedeploy.deployment_group.clone())?;
    let config_name = args
        .deployment_config
        .clone()
        .or(ctx
            .cfg
            .layer
            .codedeploy
            .as_ref()
            .and_then(|c| c.deployment_config.clone()))
        .unwrap_or_else(|| DEFAULT_DEPLOYMENT_CONFIG.into());
    let hotfix = if args.hotfix {
        let reason = args
            .reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| Error::Usage("--hotfix needs --reason \"<why>\"".into()))?;
        let user = std::env::var("BUILD_USER_ID")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        Some((user, reason))
    } else {
        None
    };
    let sha = match (&args.task_definition, &args.sha.sha) {
        (Some(_), _) => None,
        (None, s) => Some(release::resolve_sha(s.clone())?),
    };

    // Preflight: reads only.
    let group = codedeploy::get_group(c, &app, &group_name).await?;
    let service = ecs::describe_service(c, &target.cluster, &target.service).await?;
    check_group(&group, &target, &service.controller)?;
    let routing = codedeploy::get_config(c, &config_name).await?;
    let mut opts = ctx.watch_options(&args.watch, &group);
    if args.watch.timeout.is_none()
        && ctx
            .cfg
            .layer
            .codedeploy
            .as_ref()
            .and_then(|c| c.timeout)
            .is_none()
    {
        opts.timeout = decide::default_timeout(
            routing.shifting_minutes(),
            group.ready_wait_minutes,
            group.termination_wait_minutes,
        );
    }
    opts.expect_rollback = group.auto_rollback_enabled;
    let release = match &sha {
        Some(s) => {
            let input = ctx.release_input(s.clone(), target.clone(), None, None, None)?;
            Some(release::prepare(c, &ctx.cfg, &input).await?)
        }
        None => None,
    };
    let given_td = match &args.task_definition {
        Some(arn) => Some(
            ecs::describe_task_definition(c, arn)
                .await?
                .ok_or_else(|| {
                    Error::Precondition(format!(
                        "task definition {arn} does not exist (or is inactive) in region {}",
                        c.region
                    ))
                })?,
        ),
        None => None,
    };
    let mut sink_box = reporter(global, opts.tick);
    let state_path = ctx.state_file(args.watch.state_file.clone());
    let mut keeper = StateKeeper {
        shared: shared.clone(),
    };

    let (id, td_arn) = match check_active(c, &app, &group_name, sha.as_deref()).await? {
        Active::Attach(d) => {
            sink_box.emit(
                Duration::ZERO,
                &Event::Attached {
                    deployment_id: d.id.clone(),
                },
            );
            (d.id, String::new())
        }
        Active::None => {
            check_alarms(c, &opts.alarms).await?;
            // First mutating call from here on.
            let td = match (&release, given_td) {
                (Some(r), _) => {
                    let (td, reused) = release::register_release(c, r).await?;
                    sink_box.emit(
                        Duration::ZERO,
                        &Event::TaskDefinition {
                            arn: td.arn.clone(),
                            reused,
                        },
                    );
                    td
                }
                (None, Some(td)) => td,
                (None, None) => unreachable!("clap requires --sha or --task-definition"),
            };
            let network = service.network.clone();
            let hooks = ctx
                .cfg
                .layer
                .codedeploy
                .as_ref()
                .and_then(|c| c.hooks.clone())
                .unwrap_or_default();
            let platform = ctx
                .cfg
                .layer
                .service
                .as_ref()
                .and_then(|s| s.platform_version.clone())
                .or(service.platform_version.clone());
            let spec = appspec::build(&appspec::AppSpecInput {
                task_definition_arn: &td.arn,
                container: &target.container,
                port: target.port,
                platform_version: platform.as_deref(),
                network: network.as_ref(),
                hooks: &hooks,
            });
            let build_url = std::env::var("BUILD_URL").ok();
            let desc = description(
                sha.as_deref(),
                &td.arn,
                build_url.as_deref(),
                hotfix.as_ref().map(|(u, r)| (u.as_str(), r.as_str())),
            );
            let created = codedeploy::create_deployment(
                c,
                &codedeploy::NewDeployment {
                    application: &app,
                    group: &group_name,
                    config: Some(&config_name),
                    description: &desc,
                    appspec: &spec.to_string(),
                },
            )
            .await?;
            match created {
                codedeploy::CreateOutcome::Created(id) => {
                    let st = State {
                        deployment_id: id.clone(),
                        rollback_deployment_id: None,
                        sha: sha.clone(),
                        application: app.clone(),
                        deployment_group: group_name.clone(),
                        cluster: target.cluster.clone(),
                        service: target.service.clone(),
                        region: c.region.clone(),
                        task_definition: td.arn.clone(),
                        previous_task_definition: Some(service.task_definition.clone()),
                        started_at: chrono::Utc::now(),
                        status: "Created".into(),
                    };
                    st.save(&state_path)?;
                    *shared.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((st, state_path.clone()));
                    sink_box.emit(
                        Duration::ZERO,
                        &Event::Created {
                            deployment_id: id.clone(),
                            config: config_name.clone(),
                            task_definition: td.arn.clone(),
                        },
                    );
                    (id, td.arn)
                }
                // Another pipeline won the race between our check and our create.
                codedeploy::CreateOutcome::LimitExceeded(msg) => {
                    match check_active(c, &app, &group_name, sha.as_deref()).await? {
                        Active::Attach(d) => {
                            sink_box.emit(
                                Duration::ZERO,
                                &Event::Attached {
                                    deployment_id: d.id.clone(),
                                },
                            );
                            (d.id, td.arn)
                        }
                        Active::None => {
                            return Err(Error::Precondition(format!(
                                "CodeDeploy refused a second deployment in group {group_name}: {msg}"
                            )));
                        }
                    }
                }
            }
        }
    };
    if shared.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
        let st = State {
            deployment_id: id.clone(),
            sha: sha.clone(),
            application: app.clone(),
            deployment_group: group_name.clone(),
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            region: c.region.clone(),
            task_definition: td_arn.clone(),
            started_at: chrono::Utc::now(),
            status: "InProgress".into(),
            ..Default::default()
        };
        st.save(&state_path)?;
        *shared.lock().unwrap_or_else(|p| p.into_inner()) = Some((st, state_path.clone()));
    }

    let clock = clock::RealClock::new();
    let watched = {
        let mut fan = progress::Fan(vec![sink_box.as_mut(), &mut keeper]);
        let w = engine::watch(c, &clock, &mut fan, &id, &opts).await?;
        fan.finish();
        w
    };
    conclude(
        global,
        &ctx,
        &watched,
        args.watch.report_dir.clone(),
        Some(&service.task_definition),
    )
    .await
}

/// Prints the outcome and, after a rollback, writes the report; returns the exit code.
async fn conclude(
    global: &Global,
    ctx: &Ctx,
    w: &Watched,
    report_dir: Option<PathBuf>,
    previous_td: Option<&str>,
) -> Result<i32> {
    let d = &w.deployment;
    let mut report_paths: Vec<PathBuf> = Vec::new();
    let mut report_note = None;
    if w.outcome == Outcome::RolledBack
        || w.outcome == Outcome::RollbackFailed
        || w.outcome == Outcome::Failed
    {
        let dir = ctx.report_dir(report_dir);
        match crate::report::write_for_deployment(&ctx.clients, &ctx.cfg, &d.id, &dir).await {
            Ok(summary) => {
                report_note = Some(summary.verdict.clone());
                report_paths = summary.paths.clone();
            }
            Err(e) => report_note = Some(format!("the rollback report could not be written: {e}")),
        }
    }
    let summary = summary_text(w, previous_td);
    match global.output {
        OutputFormat::Json => {
            let v = serde_json::json!({
                "outcome": w.outcome,
                "exit_code": w.outcome.exit_code(),
                "deployment": d,
                "rollback": w.rollback,
                "alarms_fired": w.fired.iter().map(|(n, r)| serde_json::json!({"alarm": n, "reason": r})).collect::<Vec<_>>(),
                "stopped_by_shipwatch": w.stopped_by_us,
                "max_green_percent": w.max_green,
                "elapsed_seconds": w.elapsed.as_secs_f64(),
                "report": report_paths,
                "verdict": report_note,
            });
            println!("{v}");
        }
        OutputFormat::Text => {
            println!("{summary}");
            if let Some(n) = &report_note {
                println!("{n}");
            }
            for p in &report_paths {
                println!("report: {}", p.display());
            }
        }
    }
    Ok(w.outcome.exit_code())
}

/// The closing lines: what happened, why, and what to do next.
pub fn summary_text(w: &Watched, previous_td: Option<&str>) -> String {
    let d = &w.deployment;
    let elapsed = progress::fmt_elapsed(w.elapsed);
    let mut lines = Vec::new();
    match w.outcome {
        Outcome::Succeeded => {
            lines.push(format!("deployment {} succeeded in {elapsed}: 100% of traffic on the new task set.", d.id));
            if let Some(p) = previous_td {
                lines.push(format!("previous revision: {p}"));
            }
        }
        Outcome::RolledBack => lines.push(format!(
            "deployment {} was ROLLED BACK after {elapsed}; traffic is back on the original task set (exit {}).",
            d.id,
            exit::ROLLED_BACK
        )),
        Outcome::RollbackFailed => lines.push(format!(
            "deployment {} stopped and its ROLLBACK FAILED after {elapsed}; traffic may be split between task sets. Check the service now (exit {}).",
            d.id,
            exit::FAILED
        )),
        Outcome::Failed => lines.push(format!("deployment {} ended {} without a rollback after {elapsed} (exit {}).", d.id, d.status, exit::FAILED)),
        Outcome::TimedOut => lines.push(format!(
            "gave up waiting after {elapsed}: deployment {} is still {} (exit {}). Follow it with `shipwatch watch {}` or stop it with `shipwatch stop {}`.",
            d.id,
            d.status,
            exit::TIMED_OUT,
            d.id,
            d.id
        )),
    }
    if w.outcome != Outcome::Succeeded {
        for (alarm, reason) in &w.fired {
            lines.push(format!(
                "trigger: alarm {alarm} entered ALARM{} at {:.0}% green traffic{}",
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default(),
                w.max_green,
                if w.stopped_by_us {
                    "; shipwatch stopped the deployment"
                } else {
                    ""
                }
            ));
        }
        if let (Some(code), msg) = (&d.error_code, &d.error_message) {
            lines.push(format!(
                "CodeDeploy: {code}{}",
                msg.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ));
        }
        if let Some(ev) = w.last_target.as_ref().and_then(|t| t.failed_event()) {
            lines.push(format!(
                "failed lifecycle event: {}{}",
                ev.name,
                ev.diagnostics
                    .as_deref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            ));
        }
        if let Some(m) = &d.rollback.message {
            lines.push(format!("rollback: {m}"));
        }
        if let Some(rb) = &w.rollback {
            lines.push(format!("rollback deployment {}: {}", rb.id, rb.status));
        }
    }
    lines.join("\n")
}

pub async fn run_watch(global: &Global, args: WatchArgs) -> Result<i32> {
    let shared = Arc::new(Mutex::new(None));
    with_signals(&shared, async {
        let ctx = Ctx::load(global).await?;
        let d = codedeploy::get_deployment(&ctx.clients, &args.deployment_id).await?;
        let group = codedeploy::get_group(&ctx.clients, &d.application, &d.group).await?;
        let mut opts = ctx.watch_options(&args.watch, &group);
        opts.expect_rollback = group.auto_rollback_enabled;
        let mut sink = reporter(global, opts.tick);
        sink.emit(
            Duration::ZERO,
            &Event::Attached {
                deployment_id: d.id.clone(),
            },
        );
        let clock = clock::RealClock::new();
        let w = engine::watch(&ctx.clients, &clock, sink.as_mut(), &d.id, &opts).await?;
        sink.finish();
        conclude(global, &ctx, &w, args.watch.report_dir.clone(), None).await
    })
    .await
}

pub async fn run_stop(global: &Global, args: StopArgs) -> Result<i32> {
    let ctx = Ctx::load(global).await?;
    let id = match (&args.deployment_id, &args.state_file) {
        (Some(id), _) => id.clone(),
        (None, Some(p)) => {
            let s = State::load(p)?;
            // A rollback already under way is what must be followed.
            s.deployment_id
        }
        (None, None) => {
            return Err(Error::Usage(
                "name the deployment to stop, or pass --state-file".into(),
            ));
        }
    };
    let rollback = !args.no_rollback;
    let d = codedeploy::get_deployment(&ctx.clients, &id).await?;
    if d.status.is_terminal() {
        println!(
            "deployment {id} already ended: {}{}",
            d.status,
            d.rollback
                .rollback_deployment_id
                .as_deref()
                .map(|r| format!(" (rollback {r})"))
                .unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    match codedeploy::stop(&ctx.clients, &id, rollback).await? {
        codedeploy::StopOutcome::Requested { status, message } => {
            eprintln!(
                "stop requested for {id} ({status}{})",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            )
        }
        codedeploy::StopOutcome::AlreadyCompleted(m) => {
            eprintln!("{id} completed before it could be stopped: {m}")
        }
    }
    let group = codedeploy::get_group(&ctx.clients, &d.application, &d.group).await?;
    let mut opts = ctx.watch_options(
        &WatchOpts {
            alarms: Vec::new(),
            no_stop_on_alarm: true,
            timeout: args.timeout,
            poll_interval: None,
            alarm_poll_interval: None,
            heartbeat: None,
            state_file: None,
            report_dir: None,
        },
        &group,
    );
    opts.alarms.clear();
    opts.stop_on_alarm = false;
    opts.expect_rollback = rollback && group.auto_rollback_enabled || rollback;
    opts.timeout = args.timeout.unwrap_or(Duration::from_secs(15 * 60));
    let mut sink = reporter(global, opts.tick);
    let clock = clock::RealClock::new();
    let w = engine::watch(&ctx.clients, &clock, sink.as_mut(), &id, &opts).await?;
    sink.finish();
    let code = match (w.outcome, rollback) {
        (Outcome::RolledBack, true) => {
            println!(
                "deployment {id} stopped; traffic is back on the original task set (rollback {}).",
                w.rollback.as_ref().map(|r| r.id.as_str()).unwrap_or("?")
            );
            exit::OK
        }
        (Outcome::Failed, false) => {
            println!("deployment {id} stopped without rollback; traffic stays where it was.");
            exit::OK
        }
        (Outcome::Succeeded, _) => {
            println!("deployment {id} succeeded before the stop took effect.");
            exit::OK
        }
        (o, _) => {
            println!("{}", summary_text(&w, None));
            o.exit_code()
        }
    };
    let _ = Path::new("");
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_carries_sha_and_is_bounded() {
        let d = description(
            Some("1a2b3c4"),
            "arn:aws:ecs:r:1:task-definition/web:42",
            Some("https://ci/job/1/"),
            Some(("alice", "INC-1")),
        );
        assert_eq!(
            d,
            "shipwatch sha=1a2b3c4 td=web:42 HOTFIX by alice: INC-1 build=https://ci/job/1/"
        );
        assert_eq!(sha_of(Some(&d)).as_deref(), Some("1a2b3c4"));
        let long = description(Some("1a2b3c4"), "td", None, Some(("bob", &"x".repeat(400))));
        assert!(long.len() <= 256);
        assert_eq!(sha_of(Some("deployed by hand")), None);
    }
}
