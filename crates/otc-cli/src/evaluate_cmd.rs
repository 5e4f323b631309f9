//! `otc evaluate`: what a candidate policy config would have done on the decisions the store
//! already logged (off-policy, see `otc_policy::evaluate`), as a table or as the report's JSON.
//! A refusal (nothing in scope to evaluate on, or a log that cannot support the candidate) is
//! an answer, not a fault: its reason goes to stderr and the exit code is 1; a bad candidate
//! file, a missing database or damaged data is an error (exit 2).

use crate::db::{load_config, open_existing};
use anyhow::Context;
use clap::Args;
use otc_policy::PolicyConfig;
use otc_policy::evaluate::{EvaluateError, EvaluationReport, Metric, Scope};
use otc_policy::offpolicy::Estimate;
use policy_store::{PolicyBackend, PolicyError};
use std::path::PathBuf;

/// Arguments of `otc evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Policy database file (it must exist; opening it records the default config beside the
    /// stored ones, which the evaluation does not use).
    #[arg(long, env = "OTC_DB", default_value = "data/otc-policy.db")]
    db: PathBuf,
    /// JSON file holding the candidate PolicyConfig. Partial: what it leaves out takes its
    /// default (not the server's value); unknown names are errors. The format is the
    /// `--config` of the other commands (`otc rebuild --help` shows it with the defaults).
    #[arg(long)]
    config: PathBuf,
    /// Evaluate only on decisions of this intent.
    #[arg(long)]
    intent: Option<String>,
    /// Evaluate only on decisions of this module set, comma-separated (any order).
    #[arg(long, value_delimiter = ',')]
    modules: Option<Vec<String>>,
    /// Evaluate only on decisions taken at or after this time (Unix milliseconds).
    #[arg(long, allow_negative_numbers = true)]
    since_ms: Option<i64>,
    /// Evaluate only on decisions taken before this time (Unix milliseconds).
    #[arg(long, allow_negative_numbers = true)]
    until_ms: Option<i64>,
    /// Print the report as JSON (the shape `POST /admin/otc/evaluate` answers).
    #[arg(long)]
    json: bool,
}

impl EvaluateArgs {
    fn scope(&self) -> anyhow::Result<Scope> {
        if let Some(intent) = &self.intent {
            otc_policy::trajectory::check_intent(intent).context("--intent")?;
        }
        let modules = self.modules.as_ref().map(|m| {
            m.iter()
                .map(|name| name.trim().to_owned())
                .collect::<Vec<_>>()
        });
        if let Some(modules) = &modules {
            // The names and size limits of a request's module list (`check_names` wants an
            // intent beside them: the scope's own was checked above).
            otc_policy::trajectory::check_names("any", modules).context("--modules")?;
            otc_policy::ModuleSet::new(modules).context("--modules")?;
        }
        if let (Some(since), Some(until)) = (self.since_ms, self.until_ms)
            && until < since
        {
            anyhow::bail!("--until-ms {until} is before --since-ms {since}");
        }
        Ok(Scope {
            intent: self.intent.clone(),
            modules,
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        })
    }
}

/// Evaluates the candidate; `Ok(false)` when the evaluation was refused.
pub fn run(args: &EvaluateArgs) -> anyhow::Result<bool> {
    let candidate = load_config(Some(&args.config))?;
    let scope = args.scope()?;
    // The store's own config only scores what is ingested, and nothing is; the evaluation
    // reads the configs the log was decided and scored under from the store.
    let store = open_existing(&args.db, PolicyConfig::default())?;
    let report = match store.evaluate(&candidate, &scope) {
        Ok(report) => report,
        Err(PolicyError::Evaluation(
            reason @ (EvaluateError::Refused(_) | EvaluateError::Unsupported { .. }),
        )) => {
            eprintln!(
                "otc evaluate: no estimate for {}: {reason}",
                args.config.display()
            );
            return Ok(false);
        }
        Err(PolicyError::Evaluation(EvaluateError::InvalidConfig(problem))) => {
            anyhow::bail!(
                "{}: invalid policy config: {problem}",
                args.config.display()
            )
        }
        Err(err) => {
            return Err(err).with_context(|| format!("evaluating on {}", args.db.display()));
        }
    };
    if args.json {
        crate::print_out(&serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::print_out(table(&report).trim_end())?;
    }
    Ok(true)
}

/// `value [low, high]`, three decimals.
fn cell(estimate: &Estimate) -> String {
    format!(
        "{:.3} [{:.3}, {:.3}]",
        estimate.value, estimate.ci_low, estimate.ci_high
    )
}

/// The report for people: the three outcomes (logged value and each estimator, 95 %
/// intervals, and what the candidate's own learning path adds to them), then the counts, the
/// weights and every note.
fn table(report: &EvaluationReport) -> String {
    let mut rows = vec![[
        String::new(),
        "logged [95% CI]".to_owned(),
        "SNIPS [95% CI]".to_owned(),
        "DR [95% CI]".to_owned(),
        "IPS [95% CI]".to_owned(),
        "path sd (in CI)".to_owned(),
    ]];
    let outcomes = &report.outcomes;
    for (name, metric) in [
        ("reward", &outcomes.reward),
        ("accuracy", &outcomes.accuracy),
        ("calls", &outcomes.calls),
    ] {
        let Metric {
            logged,
            candidate,
            path_sd,
        } = metric;
        rows.push([
            name.to_owned(),
            cell(logged),
            cell(&candidate.snips),
            cell(&candidate.doubly_robust),
            cell(&candidate.ips),
            format!("{path_sd:.3}"),
        ]);
    }
    let mut out = otc_policy::simulate::report::aligned(&rows);
    out.push('\n');
    let facts = [
        ["rounds".to_owned(), report.rounds.to_string()],
        ["decisions".to_owned(), report.decisions.to_string()],
        ["unanswered".to_owned(), report.unanswered.to_string()],
        [
            "effective sample size".to_owned(),
            format!("{:.1}", report.effective_sample_size),
        ],
        ["max weight".to_owned(), format!("{:.3}", report.max_weight)],
        [
            "unsupported mass".to_owned(),
            format!("{:.2}%", report.unsupported_mass * 100.0),
        ],
        [
            "replay mismatches".to_owned(),
            report.replay_mismatches.to_string(),
        ],
    ];
    out.push_str(&otc_policy::simulate::report::aligned(&facts));
    for note in &report.notes {
        out.push_str("note: ");
        out.push_str(note);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use otc_policy::offpolicy::Evaluation;

    fn estimate(value: f64) -> Estimate {
        Estimate {
            value,
            ci_low: value - 0.01,
            ci_high: value + 0.01,
        }
    }

    fn metric(value: f64) -> Metric {
        Metric {
            logged: estimate(value),
            candidate: Evaluation {
                rounds: 300,
                effective_sample_size: 150.0,
                max_weight: 4.0,
                ips: estimate(value + 0.1),
                snips: estimate(value + 0.2),
                doubly_robust: estimate(value + 0.3),
            },
            path_sd: value / 100.0,
        }
    }

    #[test]
    fn the_table_shows_every_estimate_count_and_note() {
        let report = EvaluationReport {
            decisions: 320,
            rounds: 300,
            unanswered: 20,
            replay_mismatches: 0,
            effective_sample_size: 150.0,
            max_weight: 4.0,
            unsupported_mass: 0.0025,
            outcomes: otc_policy::evaluate::Outcomes {
                reward: metric(0.5),
                accuracy: metric(0.9),
                calls: metric(2.0),
            },
            notes: vec!["the effective sample size is 150".to_owned()],
        };
        let text = table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "          logged [95% CI]       SNIPS [95% CI]        DR [95% CI]           IPS [95% CI]          path sd (in CI)"
        );
        assert_eq!(
            lines[1],
            "reward    0.500 [0.490, 0.510]  0.700 [0.690, 0.710]  0.800 [0.790, 0.810]  0.600 [0.590, 0.610]  0.005"
        );
        assert!(
            lines[3].starts_with("calls     2.000 [1.990, 2.010]"),
            "{text}"
        );
        for fact in [
            "rounds                 300",
            "decisions              320",
            "unanswered             20",
            "effective sample size  150.0",
            "max weight             4.000",
            "unsupported mass       0.25%",
            "replay mismatches      0",
            "note: the effective sample size is 150",
        ] {
            assert!(lines.contains(&fact), "{fact:?} in\n{text}");
        }
    }
}
