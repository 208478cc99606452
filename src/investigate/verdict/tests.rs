//! Table-driven tests of the stop classification, dependency naming, memory suggestion
//! and the verdict's order of evidence.

use super::*;
use crate::aws::elb::TargetHealth;
use crate::aws::incident::FiringAlarm;
use crate::investigate::model::*;
use crate::logscan::model::{Count, ErrorGroup, LogEvidence};

fn facts(exit: Option<i32>, code: &str, reason: &str, container: &str) -> TaskFacts {
    TaskFacts {
        task_id: "t".into(),
        exit_code: exit,
        stop_code: Some(code.into()),
        stopped_reason: Some(reason.into()),
        container_reason: (!container.is_empty()).then(|| container.to_owned()),
        ..Default::default()
    }
}

#[test]
fn stops_are_classified() {
    let cases = [
        (
            facts(
                Some(137),
                "EssentialContainerExited",
                "Essential container in task exited",
                "OutOfMemoryError: Container killed due to memory usage",
            ),
            StopKind::OutOfMemory,
        ),
        (
            facts(
                Some(1),
                "EssentialContainerExited",
                "Essential container in task exited",
                "",
            ),
            StopKind::AppError,
        ),
        (
            facts(
                Some(139),
                "EssentialContainerExited",
                "Essential container in task exited",
                "",
            ),
            StopKind::Segfault,
        ),
        (
            facts(
                None,
                "TaskFailedToStart",
                "ResourceInitializationError: unable to pull secrets",
                "",
            ),
            StopKind::FailedToStart,
        ),
        (
            facts(
                None,
                "TaskFailedToStart",
                "x",
                "CannotPullContainerError: pull access denied",
            ),
            StopKind::ImagePull,
        ),
        (
            facts(
                Some(143),
                "ServiceSchedulerInitiated",
                "Task failed ELB health checks in (target-group arn:tg)",
                "",
            ),
            StopKind::HealthCheck,
        ),
        (
            facts(
                Some(0),
                "ServiceSchedulerInitiated",
                "Scaling activity initiated by (deployment ecs-svc/1)",
                "",
            ),
            StopKind::Scheduler,
        ),
        (
            facts(Some(143), "UserInitiated", "Task stopped by user", ""),
            StopKind::UserStop,
        ),
    ];
    for (f, want) in cases {
        let (kind, words) = classify_stop(&f);
        assert_eq!(kind, want, "{f:?}");
        assert!(!words.is_empty());
    }
}

#[test]
fn dependencies_are_named_from_error_messages() {
    let cases = [
        (
            "connect ECONNREFUSED 10.0.40.12:5432",
            Some("10.0.40.12:5432"),
        ),
        (
            "getaddrinfo ENOTFOUND orders-db.internal:5432",
            Some("orders-db.internal:5432"),
        ),
        ("Redis connection timeout after 2000ms", Some("Redis")),
        ("Cannot read properties of undefined (reading 'map')", None),
        ("relation \"orders_v2\" does not exist", None),
        ("timeout at 10:01", None),
    ];
    for (msg, want) in cases {
        assert_eq!(dependency_named(msg).as_deref(), want, "{msg}");
    }
}

#[test]
fn memory_suggestions_round_up_to_fargate_sizes() {
    for (limit, want) in [
        (512, 1024),
        (1024, 2048),
        (2048, 3072),
        (3072, 5120),
        (30720, 46080),
    ] {
        assert_eq!(suggested_memory(limit), want, "{limit}");
    }
    assert_eq!(
        health_codes("Health checks failed with these codes: [404]").as_deref(),
        Some("[404]")
    );
    assert_eq!(health_codes("Request timed out"), None);
}

fn stopped(kind: StopKind, exit: i32, ran: i64) -> StoppedTask {
    StoppedTask {
        task_id: format!("t{exit}{ran}"),
        kind,
        exit_code: Some(exit),
        ran_seconds: Some(ran),
        memory_limit_mib: Some(512),
        peak_memory_mib: Some(512.0),
        ..Default::default()
    }
}

fn target(state: &str, desc: Option<&str>) -> TargetHealth {
    TargetHealth {
        target_group_arn: "tg".into(),
        id: "10.0.0.1".into(),
        port: Some(8080),
        state: state.into(),
        reason: desc.map(|_| "Target.ResponseCodeMismatch".into()),
        description: desc.map(str::to_owned),
        task_id: Some("abc".into()),
    }
}

fn logs(sample: &str, status: &str, stack: &str) -> LogEvidence {
    LogEvidence {
        lines_read: 100,
        error_lines: 10,
        groups: vec![ErrorGroup {
            message: sample.into(),
            sample: sample.into(),
            error_type: None,
            stack_head: if stack.is_empty() {
                vec![]
            } else {
                vec![stack.into()]
            },
            count: 10,
            share: 1.0,
            first_seen: None,
            last_seen: None,
            routes: vec![],
            statuses: vec![Count {
                value: status.into(),
                count: 10,
            }],
            trace_ids: vec![],
        }],
        ..Default::default()
    }
}

#[test]
fn verdicts_follow_the_strongest_evidence() {
    let base = Investigation {
        service: "web".into(),
        checked: vec!["3 alarms read".into()],
        ..Default::default()
    };
    let with = |f: &dyn Fn(&mut Investigation)| {
        let mut i = base.clone();
        f(&mut i);
        i
    };
    let cases: Vec<(&str, Investigation, Cause, &str)> = vec![
        (
            "healthy",
            base.clone(),
            Cause::NothingFound,
            "Nothing wrong found",
        ),
        (
            "deployment wins over everything",
            with(&|i| {
                i.triage.deployment_in_progress = Some("d-ABC".into());
                i.evidence.stopped = vec![stopped(StopKind::OutOfMemory, 137, 300)];
            }),
            Cause::DeploymentInProgress,
            "shipwatch watch d-ABC",
        ),
        (
            "oom",
            with(&|i| {
                i.evidence.stopped = vec![stopped(StopKind::OutOfMemory, 137, 300)];
                i.evidence.logs = Some(logs("connect ECONNREFUSED 10.0.0.9:5432", "500", ""));
            }),
            Cause::MemoryExhaustion,
            "of 512 MiB",
        ),
        (
            "crash loop",
            with(&|i| {
                i.evidence.stopped = vec![
                    stopped(StopKind::AppError, 1, 5),
                    stopped(StopKind::AppError, 1, 6),
                ];
                i.evidence.crash_loop = crash_loop(&i.evidence.stopped);
                i.evidence.logs = Some(logs(
                    "uncaught exception",
                    "",
                    "TypeError: Cannot read properties of undefined (reading 'split')",
                ));
            }),
            Cause::StartupError,
            "reading 'split'",
        ),
        (
            "one slow app exit is no crash loop",
            with(&|i| {
                i.evidence.stopped = vec![stopped(StopKind::AppError, 1, 500)];
                i.evidence.crash_loop = crash_loop(&i.evidence.stopped);
            }),
            Cause::NothingFound,
            "Nothing wrong",
        ),
        (
            "health path 404",
            with(&|i| {
                i.evidence.targets = vec![target(
                    "unhealthy",
                    Some("Health checks failed with these codes: [404]"),
                )];
            }),
            Cause::HealthCheckFails,
            "answers [404]",
        ),
        (
            "health fails on a dependency",
            with(&|i| {
                i.evidence.targets = vec![target(
                    "unhealthy",
                    Some("Health checks failed with these codes: [503]"),
                )];
                i.evidence.logs = Some(logs("Redis connection timeout after 2000ms", "503", ""));
            }),
            Cause::HealthCheckFails,
            "depends on Redis",
        ),
        (
            "dependency",
            with(&|i| {
                i.evidence.targets = vec![target("healthy", None)];
                i.evidence.logs = Some(logs("connect ECONNREFUSED 10.0.40.12:5432", "500", ""));
            }),
            Cause::DependencyFailure,
            "10.0.40.12:5432",
        ),
        (
            "routes fail while health passes",
            with(&|i| {
                i.evidence.targets = vec![target("healthy", None)];
                i.evidence.logs = Some(logs(
                    "Cannot read properties of undefined (reading 'map')",
                    "500",
                    "TypeError: Cannot read properties of undefined (reading 'map')",
                ));
            }),
            Cause::HealthPassesRoutesFail,
            "health checks pass",
        ),
        (
            "alarm without cause",
            with(&|i| {
                i.triage.alarms = vec![FiringAlarm {
                    name: "web-5xx".into(),
                    ..Default::default()
                }];
            }),
            Cause::Unexplained,
            "web-5xx",
        ),
    ];
    for (name, inv, cause, words) in cases {
        let v = decide(&inv);
        assert_eq!(v.cause, cause, "{name}: {v:?}");
        assert!(
            v.summary.contains(words) || v.evidence.iter().any(|e| e.contains(words)),
            "{name}: {v:?}"
        );
    }
}

#[test]
fn oom_hint_computes_the_new_memory() {
    let mut i = Investigation::default();
    i.evidence.stopped = vec![stopped(StopKind::OutOfMemory, 137, 240)];
    let v = decide(&i);
    assert!(v.hints[0].contains("from 512 MiB to 1024 MiB"), "{v:?}");
    assert!(
        v.evidence.iter().any(|e| e.contains("100 % of 512 MiB")),
        "{v:?}"
    );
}

#[test]
fn nothing_found_says_what_could_not_be_read() {
    let mut i = Investigation::default();
    i.missing.push(Missing {
        evidence: "traces".into(),
        reason: "no Jaeger".into(),
    });
    assert!(!decide(&i).summary.contains("not everything"));
    i.missing.push(Missing {
        evidence: "target health".into(),
        reason: "AccessDenied".into(),
    });
    let v = decide(&i);
    assert_eq!(v.cause, Cause::NothingFound);
    assert!(
        v.summary
            .contains("not everything could be read (target health)"),
        "{v:?}"
    );
}
