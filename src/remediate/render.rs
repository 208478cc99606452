//! What `remediate` prints: one plain line per step as it happens (a Jenkins log or a
//! terminal read the same), then the summary; or one JSON object with `--output json`.

use super::{Remediation, Step};

/// A step as one line: ✔ for a check passed or an action done, ✘ for what held it back.
pub fn step_line(s: &Step) -> String {
    let mark = if s.ok { "✔" } else { "✘" };
    format!("{mark} {:<11} {}", s.kind, s.text)
}

/// The header line before the steps.
pub fn header(r: &Remediation) -> String {
    let mut s = format!("remediate service {} in cluster {}", r.service, r.cluster);
    if let Some(a) = &r.trigger.alarm {
        s.push_str(&format!(" for alarm {a}"));
        if let Some(t) = r.trigger.state_changed_at {
            s.push_str(&format!(
                " (state change at {})",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }
    if r.dry_run {
        s.push_str(" — dry run, nothing will be changed");
    }
    s
}

/// The closing line: the summary and the exit code it maps to.
pub fn footer(r: &Remediation) -> String {
    format!("{} (exit {})", r.summary, r.exit_code)
}

/// The result as one JSON object.
pub fn json(r: &Remediation) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"error\":\"cannot render: {e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_marks() {
        let ok = Step {
            kind: "guard",
            ok: true,
            text: "fine".into(),
        };
        let no = Step {
            kind: "guard",
            ok: false,
            text: "held".into(),
        };
        assert!(step_line(&ok).starts_with("✔ guard"));
        assert!(step_line(&no).starts_with("✘ guard"));
    }
}
