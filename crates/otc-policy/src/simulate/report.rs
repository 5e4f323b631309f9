//! What a simulation measured: per combination, calls and accuracy under the fixed budget, the
//! oracle and the policy; how many trajectories the policy took to serve `n*` and keep serving
//! it; how fast it followed a drift; when the helpful module came first. Rendered as a text
//! table (the SVG plot is in `svg.rs`, the summary over seeds in `summary.rs`).
//!
//! Convergence is judged on decisions not flagged as exploration: the policy has converged at
//! trajectory `t` of a segment (the run, or the part after a drift) when its budget is `n*` at
//! `t` and on at least [`STAY`] of the non-exploration decisions from `t` to the segment's end.
//! The ranking is judged on the decisions that served the policy's module order: those that did
//! not explore the order. A decision that explored only the budget (one call more or less)
//! still puts the module the policy ranks first first, so it shows the ranking as it is. The
//! helpful module is first from `t` on when every such decision from `t` puts it first
//! ([`TOP_STAYS`]; a module tied with it at the top and put first by the decision's random
//! tie-break counts against it): the ranking is not a rate, and a share of the whole run
//! would let a slow start pass (98 % of 2000 decisions forgives the first 40).

use super::world::Scenario;
use serde::Serialize;
use std::fmt::Write as _;

/// Fraction of later non-exploration decisions that must serve `n*` for convergence to count.
pub const STAY: f64 = 0.995;
/// Fraction of later decisions serving the policy's order that must put the helpful module
/// first: all of them.
pub const TOP_STAYS: f64 = 1.0;

/// One policy decision as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRecord {
    /// The policy's budget.
    pub policy_budget: u32,
    /// The budget served.
    pub served: u32,
    /// Flagged as exploration (of the budget, the order or both).
    pub explore: bool,
    /// Another module than the policy's top one was put first (an exploration of the order).
    pub order_explored: bool,
    /// The module served first.
    pub first: Option<String>,
    /// `n*` at the time.
    pub truth: u32,
    /// Whether the request was correct.
    pub correct: bool,
}

/// Calls and correct answers of one policy on one combination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Requests.
    pub requests: u64,
    /// Tool calls made.
    pub calls: u64,
    /// Correct answers.
    pub correct: u64,
}

impl Totals {
    /// Adds one request.
    pub fn add(&mut self, calls: usize, correct: bool) {
        self.requests += 1;
        self.calls += calls as u64;
        self.correct += u64::from(correct);
    }

    /// Calls per request.
    pub fn calls_per_request(&self) -> f64 {
        self.calls as f64 / self.requests.max(1) as f64
    }

    /// Fraction correct.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.requests.max(1) as f64
    }

    /// The sum of two totals.
    pub fn plus(&self, other: &Self) -> Self {
        Self {
            requests: self.requests + other.requests,
            calls: self.calls + other.calls,
            correct: self.correct + other.correct,
        }
    }
}

/// The results of one combination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComboReport {
    /// Intent class.
    pub intent: String,
    /// Module set, native order.
    pub modules: Vec<String>,
    /// The helpful module.
    pub helpful: String,
    /// `n*` at the start.
    pub optimal: u32,
    /// `n*` after the drift, if any.
    pub drift_to: Option<u32>,
    /// The generous fixed budget.
    pub fixed: Totals,
    /// Budget `n*`, helpful module first.
    pub oracle: Totals,
    /// The policy under test.
    pub policy: Totals,
    /// Trajectories until the budget is `n*` and stays (see the module docs); `None`: never.
    pub converged_at: Option<usize>,
    /// Trajectories after the drift until the budget is the new `n*` and stays.
    pub followed_drift_in: Option<usize>,
    /// Fraction of non-exploration decisions after convergence that served `n*`.
    pub stays: Option<f64>,
    /// Trajectories until the helpful module is served first and stays first on
    /// [`TOP_STAYS`] of the decisions that served the policy's order; `None` when never (or
    /// when no module is served: `n*` = 0).
    pub helpful_first_at: Option<usize>,
    /// Among the last 100 decisions that served the policy's module order (did not explore
    /// the order), the fraction that put the helpful module first (`None` when `n*` is 0: no
    /// module is needed).
    pub top_right_last_100: Option<f64>,
    /// Fraction of decisions that served a budget below the policy's.
    pub explored_down: f64,
    /// Fraction of decisions flagged as exploration.
    pub explored: f64,
    /// Per decision: (policy budget, truth, correct), for the plot.
    #[serde(skip)]
    pub series: Vec<(u32, u32, bool)>,
}

/// The results of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Agent name.
    pub agent: String,
    /// Seed.
    pub seed: u64,
    /// Per combination.
    pub combos: Vec<ComboReport>,
}

/// The first `t` in `segment` at which `records[t]` is `want`ed and stays so on `stay` of the
/// `judged` decisions to the end of the segment (only judged decisions count, `t` among them);
/// relative to its start.
fn converged(
    records: &[DecisionRecord],
    segment: std::ops::Range<usize>,
    judged: impl Fn(&DecisionRecord) -> bool,
    want: impl Fn(&DecisionRecord) -> bool,
    stay: f64,
) -> (Option<usize>, Option<f64>) {
    let judged_at: Vec<usize> = segment.clone().filter(|&t| judged(&records[t])).collect();
    // Suffix counts of wanted decisions among the judged ones.
    let mut good_after = vec![0usize; judged_at.len() + 1];
    for (i, &t) in judged_at.iter().enumerate().rev() {
        good_after[i] = good_after[i + 1] + usize::from(want(&records[t]));
    }
    for (i, &t) in judged_at.iter().enumerate() {
        let total = judged_at.len() - i;
        let fraction = good_after[i] as f64 / total as f64;
        if want(&records[t]) && fraction >= stay {
            return (Some(t - segment.start), Some(fraction));
        }
    }
    (None, None)
}

impl ComboReport {
    fn new(
        combo: &super::world::Combo,
        records: &[DecisionRecord],
        fixed: Totals,
        oracle: Totals,
        policy: Totals,
    ) -> Self {
        let len = records.len();
        let split = combo.drift.map_or(len, |d| d.at.min(len));
        let at_truth = |r: &DecisionRecord| r.policy_budget == r.truth;
        let plain = |r: &DecisionRecord| !r.explore;
        let (converged_at, stays) = converged(records, 0..split, plain, at_truth, STAY);
        let followed_drift_in = combo
            .drift
            .and_then(|_| converged(records, split..len, plain, at_truth, STAY).0);
        let helpful_first = |r: &DecisionRecord| r.first.as_deref() == Some(combo.helpful.as_str());
        let policy_order = |r: &DecisionRecord| !r.order_explored;
        // Decisions that served a module order (budget > 0), and where they are in the run.
        let positions: Vec<usize> = (0..len).filter(|&t| records[t].first.is_some()).collect();
        let ordered: Vec<DecisionRecord> = positions.iter().map(|&t| records[t].clone()).collect();
        let helpful_first_at = if combo.optimal == 0 && combo.drift.is_none() {
            None
        } else {
            converged(
                &ordered,
                0..ordered.len(),
                policy_order,
                helpful_first,
                TOP_STAYS,
            )
            .0
            .map(|i| positions[i])
        };
        let policy_ordered: Vec<&DecisionRecord> =
            ordered.iter().filter(|r| policy_order(r)).collect();
        let last: Vec<&&DecisionRecord> = policy_ordered.iter().rev().take(100).collect();
        // With n* = 0 no module is needed: which one an exploration put first says nothing.
        let top_right_last_100 = (combo.optimal > 0 && !last.is_empty())
            .then(|| last.iter().filter(|r| helpful_first(r)).count() as f64 / last.len() as f64);
        let count = |f: &dyn Fn(&DecisionRecord) -> bool| {
            records.iter().filter(|r| f(r)).count() as f64 / len.max(1) as f64
        };
        Self {
            intent: combo.intent.clone(),
            modules: combo.modules.clone(),
            helpful: combo.helpful.clone(),
            optimal: combo.optimal,
            drift_to: combo.drift.map(|d| d.to),
            fixed,
            oracle,
            policy,
            converged_at,
            followed_drift_in,
            stays,
            helpful_first_at,
            top_right_last_100,
            explored_down: count(&|r| r.served < r.policy_budget),
            explored: count(&|r| r.explore),
            series: records
                .iter()
                .map(|r| (r.policy_budget, r.truth, r.correct))
                .collect(),
        }
    }
}

impl RunReport {
    pub(super) fn new(
        scenario: &Scenario,
        seed: u64,
        records: Vec<Vec<DecisionRecord>>,
        fixed: Vec<Totals>,
        oracle: Vec<Totals>,
        policy: Vec<Totals>,
    ) -> Self {
        let combos = scenario
            .combos
            .iter()
            .enumerate()
            .map(|(c, combo)| ComboReport::new(combo, &records[c], fixed[c], oracle[c], policy[c]))
            .collect();
        Self {
            scenario: scenario.name.clone(),
            agent: scenario.agent.name().to_owned(),
            seed,
            combos,
        }
    }

    /// Totals over every combination: (fixed, oracle, policy).
    pub fn totals(&self) -> (Totals, Totals, Totals) {
        self.combos.iter().fold(
            (Totals::default(), Totals::default(), Totals::default()),
            |(f, o, p), c| (f.plus(&c.fixed), o.plus(&c.oracle), p.plus(&c.policy)),
        )
    }

    /// The policy's call saving against the fixed budget as a fraction of the oracle's.
    pub fn saving_vs_oracle(&self) -> f64 {
        let (fixed, oracle, policy) = self.totals();
        let oracle_saving = fixed.calls as f64 - oracle.calls as f64;
        if oracle_saving <= 0.0 {
            return 1.0;
        }
        (fixed.calls as f64 - policy.calls as f64) / oracle_saving
    }

    /// The text table: one row per combination and a total row.
    pub fn table(&self) -> String {
        let mut rows = vec![
            [
                "intent",
                "n*",
                "fixed calls",
                "fixed acc",
                "oracle calls",
                "oracle acc",
                "policy calls",
                "policy acc",
                "converged",
                "drift",
                "helpful 1st",
                "top ok",
                "explored",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        let opt = |v: Option<usize>| v.map_or("never".to_owned(), |t| t.to_string());
        for c in &self.combos {
            rows.push(vec![
                format!("{} [{}]", c.intent, c.modules.join(",")),
                match c.drift_to {
                    Some(to) => format!("{}->{to}", c.optimal),
                    None => c.optimal.to_string(),
                },
                format!("{:.2}", c.fixed.calls_per_request()),
                format!("{:.3}", c.fixed.accuracy()),
                format!("{:.2}", c.oracle.calls_per_request()),
                format!("{:.3}", c.oracle.accuracy()),
                format!("{:.2}", c.policy.calls_per_request()),
                format!("{:.3}", c.policy.accuracy()),
                opt(c.converged_at),
                c.drift_to
                    .map_or("-".to_owned(), |_| opt(c.followed_drift_in)),
                if c.optimal == 0 && c.drift_to.is_none() {
                    "-".to_owned()
                } else {
                    opt(c.helpful_first_at)
                },
                c.top_right_last_100
                    .map_or("-".to_owned(), |f| format!("{:.0}%", f * 100.0)),
                format!("{:.1}%", c.explored * 100.0),
            ]);
        }
        let (f, o, p) = self.totals();
        rows.push(vec![
            "all".to_owned(),
            String::new(),
            format!("{:.2}", f.calls_per_request()),
            format!("{:.3}", f.accuracy()),
            format!("{:.2}", o.calls_per_request()),
            format!("{:.3}", o.accuracy()),
            format!("{:.2}", p.calls_per_request()),
            format!("{:.3}", p.accuracy()),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        let mut out = format!(
            "scenario {} · agent {} · seed {} · {} trajectories per combination\n",
            self.scenario,
            self.agent,
            self.seed,
            self.combos.first().map_or(0, |c| c.policy.requests)
        );
        out.push_str(&aligned(&rows));
        let _ = writeln!(
            out,
            "policy: accuracy {:+.1} points against the fixed budget, call saving {:.1}% (oracle {:.1}%, {:.0}% of the oracle's)",
            (p.accuracy() - f.accuracy()) * 100.0,
            (1.0 - p.calls as f64 / f.calls.max(1) as f64) * 100.0,
            (1.0 - o.calls as f64 / f.calls.max(1) as f64) * 100.0,
            self.saving_vs_oracle() * 100.0
        );
        out
    }
}

/// Left-aligned text columns two spaces apart, one line per row, trailing spaces trimmed
/// (shared with the `otc` command's tables).
pub fn aligned<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(first: &str, order_explored: bool) -> DecisionRecord {
        DecisionRecord {
            policy_budget: 2,
            served: 2 + u32::from(order_explored),
            explore: order_explored,
            order_explored,
            first: Some(first.to_owned()),
            truth: 2,
            correct: true,
        }
    }

    /// The ranking's reading: a decision that explored the order is not judged; one that
    /// served the policy's order with another module first is, and the helpful module is
    /// first only from the decision after it on.
    #[test]
    fn the_helpful_module_is_first_from_the_last_judged_decision_that_was_not() {
        let mut records: Vec<DecisionRecord> = (0..10).map(|_| record("web", false)).collect();
        records[1] = record("news", false);
        records[6] = record("news", true);
        let judged = |r: &DecisionRecord| !r.order_explored;
        let helpful = |r: &DecisionRecord| r.first.as_deref() == Some("web");
        let at = |records: &[DecisionRecord]| {
            converged(records, 0..records.len(), judged, helpful, TOP_STAYS).0
        };
        assert_eq!(at(&records), Some(2), "the exploration at 6 does not count");
        records[6].order_explored = false;
        assert_eq!(at(&records), Some(7), "the policy's own order at 6 does");
        records[9] = record("news", false);
        assert_eq!(at(&records), None, "never, if the last one is not");
    }
}
