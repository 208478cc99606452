//! The green-vs-blue judge: from the requests and 5xx answers counted in each colour's
//! task logs, is green worse than blue, with confidence and by at least the minimum
//! effect? Pure functions only; the watch loop feeds the counts and acts on the verdict.
//!
//! The test is Bayesian: each colour's error proportion gets a Beta posterior from its
//! counts (Jeffreys prior, Beta(½, ½)), and the judge asks for the posterior probability
//! that green's proportion exceeds blue's by the minimum effect, i.e.
//! P(p_green > max(ratio · p_blue, p_blue + difference)). Small samples give wide
//! posteriors, so a handful of errors in a few requests never reaches the confidence on
//! its own; a minimum number of green requests comes on top, because the decision is
//! taken again at every poll and a floor keeps the earliest looks from deciding on noise.

use serde::Serialize;
use std::time::Duration;

/// How the judge decides (`[watch.judge]`).
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeConfig {
    /// Posterior probability that green is worse (by the minimum effect) needed to stop.
    pub confidence: f64,
    /// Green requests needed before any decision.
    pub min_requests: u64,
    /// Green's error proportion must exceed blue's by this factor...
    pub min_ratio: f64,
    /// ...and by this absolute difference (0.005 = half a percentage point).
    pub min_difference: f64,
    /// How often the task logs are read.
    pub poll: Duration,
}

/// Requests answered and how many of them with a 5xx.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
}

impl Counts {
    pub fn add(&mut self, error: bool) {
        self.requests += 1;
        if error {
            self.errors += 1;
        }
    }
}

/// What the judge concludes from the counts so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Fewer green requests than the minimum: no decision either way.
    TooFewRequests { green: u64, needed: u64 },
    /// Blue answered nothing yet: nothing to compare green with.
    NoBaseline,
    /// Green is not shown worse; `probability` that it is (not computed when green's
    /// observed rate is not even above blue's by the minimum effect).
    NotWorse { probability: Option<f64> },
    /// Green is worse with the configured confidence.
    Worse { probability: f64 },
}

impl Verdict {
    /// A short name for the kind of verdict, to report changes only.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::TooFewRequests { .. } => "too_few_requests",
            Verdict::NoBaseline => "no_baseline",
            Verdict::NotWorse { .. } => "not_worse",
            Verdict::Worse { .. } => "worse",
        }
    }
}

/// The judge's decision on the counts of green and blue.
pub fn judge(green: Counts, blue: Counts, cfg: &JudgeConfig) -> Verdict {
    if green.requests < cfg.min_requests.max(1) {
        return Verdict::TooFewRequests {
            green: green.requests,
            needed: cfg.min_requests.max(1),
        };
    }
    if blue.requests == 0 {
        return Verdict::NoBaseline;
    }
    // Where green's observed rate is below the effect at blue's observed rate, the
    // probability is at most about one half: below any sensible confidence.
    let rate = |c: Counts| c.errors as f64 / c.requests as f64;
    let at_blue = (rate(blue) * cfg.min_ratio).max(rate(blue) + cfg.min_difference);
    if cfg.confidence >= 0.5 && rate(green) <= at_blue {
        return Verdict::NotWorse { probability: None };
    }
    let probability = prob_worse(green, blue, cfg.min_ratio, cfg.min_difference);
    if probability >= cfg.confidence {
        Verdict::Worse { probability }
    } else {
        Verdict::NotWorse {
            probability: Some(probability),
        }
    }
}

/// Posterior probability that green's error proportion exceeds
/// max(ratio · blue's, blue's + difference), with Jeffreys priors.
///
/// Integrated over blue's posterior on a grid of cells, each weighted by blue's
/// posterior mass in it (differences of the CDF, which stays exact where blue's
/// density is unbounded at 0); green's tail is evaluated at each cell's midpoint.
pub fn prob_worse(green: Counts, blue: Counts, ratio: f64, difference: f64) -> f64 {
    let (ga, gb) = posterior(green);
    let (ba, bb) = posterior(blue);
    let mean = ba / (ba + bb);
    let sd = (ba * bb / ((ba + bb).powi(2) * (ba + bb + 1.0))).sqrt();
    let lo = (mean - 12.0 * sd).max(0.0);
    let hi = (mean + 12.0 * sd).min(1.0);
    const CELLS: usize = 400;
    let width = (hi - lo) / CELLS as f64;
    let mut total = 0.0;
    let mut prev = beta_cdf(lo, ba, bb);
    let below = prev;
    for i in 0..CELLS {
        let right = lo + width * (i + 1) as f64;
        let cdf = beta_cdf(right, ba, bb);
        let mid = right - width / 2.0;
        let threshold = (mid * ratio).max(mid + difference).min(1.0);
        total += (cdf - prev) * (1.0 - beta_cdf(threshold, ga, gb));
        prev = cdf;
    }
    // Blue's mass below the grid (only when the grid does not start at 0) counts with
    // the tail at `lo`: a lower bound on green's exceedance there.
    if below > 0.0 {
        let threshold = (lo * ratio).max(lo + difference).min(1.0);
        total += below * (1.0 - beta_cdf(threshold, ga, gb));
    }
    total.clamp(0.0, 1.0)
}

fn posterior(c: Counts) -> (f64, f64) {
    let errors = c.errors.min(c.requests) as f64;
    (errors + 0.5, (c.requests as f64 - errors) + 0.5)
}

/// The regularized incomplete beta function I_x(a, b): the CDF of Beta(a, b) at x.
pub fn beta_cdf(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    // The continued fraction converges fast on this side of the mean; use symmetry on the other.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * continued_fraction(x, a, b) / a
    } else {
        1.0 - front * continued_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-14;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=5000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// Whether a task log line is a request the app answered, and whether with a 5xx.
/// Lines are the app's JSON request lines (`res.statusCode`); the load balancer's
/// health checks are not user requests and are left out.
pub fn classify(message: &str) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_str(message.trim()).ok()?;
    let status = v.pointer("/res/statusCode")?.as_u64()?;
    let url = v.pointer("/req/url").and_then(|u| u.as_str()).unwrap_or("");
    let agent = v
        .pointer("/req/headers/user-agent")
        .and_then(|u| u.as_str())
        .unwrap_or("");
    if url == "/healthz" || agent.starts_with("ELB-HealthChecker") {
        return None;
    }
    Some(status >= 500)
}

/// `1 080` style thousands for people.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

/// "green 14 errors in 120 requests vs blue 2 in 1 080".
pub fn counts_text(green: Counts, blue: Counts) -> String {
    format!(
        "green {} error{} in {} requests vs blue {} in {}",
        thousands(green.errors),
        if green.errors == 1 { "" } else { "s" },
        thousands(green.requests),
        thousands(blue.errors),
        thousands(blue.requests)
    )
}

/// What the minimum effect means, for people: "≥ 2× and ≥ 0.5 points".
pub fn effect_text(cfg: &JudgeConfig) -> String {
    format!(
        "green's error rate ≥ {}× blue's and ≥ {} percentage points above it",
        trim_num(cfg.min_ratio),
        trim_num(cfg.min_difference * 100.0)
    )
}

fn trim_num(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> JudgeConfig {
        JudgeConfig {
            confidence: 0.99,
            min_requests: 100,
            min_ratio: 2.0,
            min_difference: 0.005,
            poll: Duration::from_secs(5),
        }
    }

    fn c(requests: u64, errors: u64) -> Counts {
        Counts { requests, errors }
    }

    #[test]
    fn beta_cdf_matches_known_values() {
        // Beta(1,1) is uniform; Beta(2,1) has CDF x²; Beta(½,½) has CDF (2/π)·asin(√x).
        for x in [0.1, 0.35, 0.5, 0.9] {
            assert!((beta_cdf(x, 1.0, 1.0) - x).abs() < 1e-10);
            assert!((beta_cdf(x, 2.0, 1.0) - x * x).abs() < 1e-10);
            let arcsine = 2.0 / std::f64::consts::PI * x.sqrt().asin();
            assert!((beta_cdf(x, 0.5, 0.5) - arcsine).abs() < 1e-9, "{x}");
        }
        // Large parameters: the median of Beta(5000.5, 5000.5) is ½.
        assert!((beta_cdf(0.5, 5000.5, 5000.5) - 0.5).abs() < 1e-9);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-10);
    }

    /// Table: counts of green and blue → verdict kind.
    #[test]
    fn verdicts_from_counts() {
        let table: &[(Counts, Counts, &str)] = &[
            // Below the minimum sample nothing is decided, however bad green looks.
            (c(99, 99), c(1000, 0), "too_few_requests"),
            (c(0, 0), c(1000, 0), "too_few_requests"),
            // No blue requests: nothing to compare with.
            (c(200, 50), c(0, 0), "no_baseline"),
            // The issue's example: 14/120 vs 2/1 080.
            (c(120, 14), c(1080, 2), "worse"),
            // Same proportions: not worse.
            (c(500, 5), c(5000, 50), "not_worse"),
            // Twice blue's rate but only 0.2 points above it: below the minimum effect.
            (c(20000, 40), c(20000, 20), "not_worse"),
            // Three times blue's rate with little data: not yet confident.
            (c(150, 5), c(1500, 15), "not_worse"),
            // Slow burn with enough data: 3 % vs 1 %.
            (c(3000, 90), c(9000, 90), "worse"),
            // Green better than blue.
            (c(500, 0), c(5000, 100), "not_worse"),
        ];
        for (green, blue, want) in table {
            let v = judge(*green, *blue, &cfg());
            assert_eq!(v.kind(), *want, "{green:?} vs {blue:?}: {v:?}");
        }
    }

    /// A small deterministic generator (xorshift64*), so the runs below are seeded.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn binomial(&mut self, n: u64, p: f64) -> u64 {
            (0..n).filter(|_| self.next() < p).count() as u64
        }
    }

    /// A linear 10 %-per-minute deployment on virtual time: every `poll` the requests of
    /// the last poll are split by the weight and fail at each colour's rate; the judge
    /// decides after every poll. Returns the poll (1-based) it said "worse", if ever.
    fn run(
        seed: u64,
        rpm: f64,
        blue_rate: f64,
        green_rate: f64,
        cfg: &JudgeConfig,
    ) -> Option<usize> {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (mut green, mut blue) = (Counts::default(), Counts::default());
        let poll = cfg.poll.as_secs_f64();
        let polls = (600.0 / poll) as usize;
        for i in 0..polls {
            let t = i as f64 * poll;
            let weight = ((t / 60.0).floor() + 1.0).min(10.0) / 10.0;
            let n = (rpm * poll / 60.0).round() as u64;
            let to_green = rng.binomial(n, weight);
            let to_blue = n - to_green;
            let ge = rng.binomial(to_green, green_rate);
            let be = rng.binomial(to_blue, blue_rate);
            green.requests += to_green;
            green.errors += ge;
            blue.requests += to_blue;
            blue.errors += be;
            if judge(green, blue, cfg).kind() == "worse" {
                return Some(i + 1);
            }
        }
        None
    }

    #[test]
    fn healthy_noise_never_trips_across_many_seeded_runs() {
        // Both colours fail 0.75 % (healthy-noisy), a decision every 5 s over the whole
        // 10-minute shift: 120 looks per run, at two traffic levels.
        let cfg = cfg();
        for seed in 0..200 {
            for rpm in [600.0, 1200.0] {
                assert_eq!(
                    run(seed, rpm, 0.0075, 0.0075, &cfg),
                    None,
                    "seed {seed}, {rpm} rpm"
                );
            }
        }
    }

    /// The poll at which each of 200 seeded runs said "worse" (999: never), sorted.
    fn stop_polls(rpm: f64, blue: f64, green: f64, cfg: &JudgeConfig) -> Vec<usize> {
        let mut v: Vec<usize> = (0..200)
            .map(|s| run(s, rpm, blue, green, cfg).unwrap_or(999))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_five_fold_regression_trips_within_two_steps() {
        // Blue 1 %, green 5 %, one 10 % step a minute, a decision every 5 s (12 per step).
        // At 40 requests a second (~240 green requests in the first step) 95 % of runs
        // stop within two steps and all within three; at 20 a second (the issue's
        // example: ~120 green requests in the first step) half within two, all within five.
        let cfg = cfg();
        let step = (60.0 / cfg.poll.as_secs_f64()) as usize;
        let fast = stop_polls(2400.0, 0.01, 0.05, &cfg);
        assert!(fast[189] <= 2 * step, "p95 {} polls", fast[189]);
        assert!(fast[199] <= 3 * step, "max {} polls", fast[199]);
        let slow = stop_polls(1200.0, 0.01, 0.05, &cfg);
        assert!(slow[99] <= 2 * step, "median {} polls", slow[99]);
        assert!(slow[199] <= 5 * step, "max {} polls", slow[199]);
    }

    #[test]
    fn low_traffic_cannot_judge() {
        // Six requests a minute: green never reaches the minimum sample while at 10–20 %
        // (two minutes of polls), however many of its requests fail.
        let cfg = cfg();
        let mut rng = Rng(7);
        let mut green = Counts::default();
        for _ in 0..2 * 12 {
            green.requests += rng.binomial(1, 0.15);
            green.errors = green.requests;
        }
        let v = judge(green, c(40, 0), &cfg);
        assert!(
            matches!(v, Verdict::TooFewRequests { needed: 100, .. }),
            "{v:?}"
        );
    }

    #[test]
    fn request_lines_are_classified_and_health_checks_left_out() {
        let ok = r#"{"level":30,"req":{"url":"/api/orders","headers":{"user-agent":"Mozilla/5.0"}},"res":{"statusCode":200},"msg":"request completed"}"#;
        let bad = r#"{"level":50,"req":{"url":"/api/orders"},"res":{"statusCode":502},"msg":"request errored"}"#;
        let health = r#"{"level":50,"req":{"url":"/healthz"},"res":{"statusCode":503},"msg":"health check failed"}"#;
        assert_eq!(classify(ok), Some(false));
        assert_eq!(classify(bad), Some(true));
        assert_eq!(classify(health), None);
        assert_eq!(classify("server listening on 8080"), None);
        assert_eq!(classify(r#"{"msg":"started"}"#), None);
    }

    #[test]
    fn texts_for_people() {
        assert_eq!(thousands(1080), "1 080");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1 234 567");
        assert_eq!(
            counts_text(c(120, 14), c(1080, 2)),
            "green 14 errors in 120 requests vs blue 2 in 1 080"
        );
        assert_eq!(
            effect_text(&cfg()),
            "green's error rate ≥ 2× blue's and ≥ 0.5 percentage points above it"
        );
    }
}
