//! From learnt states to advice: the read-only [`Recommendation`] and the logged [`Decision`].
//! Pure: every policy store and the in-memory policy of the simulator both call these functions
//! with the states they hold, so they cannot disagree.
//!
//! Where the advice comes from, in order: the exact combination's own state; else a loan from
//! the intent's module sets that share modules with it ([`crate::decision::borrow`]); else the
//! cold-start budget with every module untried.

use crate::arms::Arms;
use crate::budget::{BudgetEvidence, BudgetState, Direction};
use crate::config::PolicyConfig;
use crate::decision::{Draws, Explored, Loan, Sibling, borrow, choose};
use crate::state::{CombinationState, Recommendation, RecommendationSource, rank_arms};
use serde::{Deserialize, Serialize};

/// What the policy knows that applies to one asked (intent, module set).
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The asked module set, canonical order.
    pub modules: &'a [String],
    /// The exact combination's state, if it has one.
    pub exact: Option<&'a CombinationState>,
    /// The intent's other module sets, ordered by canonical text.
    pub siblings: Vec<Sibling<'a>>,
}

/// A decision served to one request, as logged and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Its id; a trajectory names it in `decision_id`.
    pub decision_id: u64,
    /// Intent class.
    pub intent: String,
    /// Module set, canonical order.
    pub modules: Vec<String>,
    /// The tool-call budget served; 0 means "answer without tools".
    pub budget: u32,
    /// The policy's budget: what a decision that does not explore serves.
    pub policy_budget: u32,
    /// The modules in the order to try them; empty when the budget is 0.
    pub order: Vec<String>,
    /// Whether anything was explored.
    pub explore: bool,
    /// What was explored.
    pub explored: Explored,
    /// The probability the policy had of serving this budget and this first module.
    pub propensity: f64,
    /// Where the policy's budget came from.
    pub source: RecommendationSource,
    /// Why, in a sentence.
    pub reason: String,
    /// How sure the policy is that its budget succeeds.
    pub confidence: f64,
    /// The evidence behind the policy's budget.
    pub evidence: BudgetEvidence,
    /// When it was decided, Unix milliseconds.
    pub decided_ms: i64,
}

/// Decayed pulls below which a combination's own arms are joined by what its siblings lend.
pub const LOAN_ARMS_UNTIL: f64 = 10.0;

/// How long a probe (a decision that served one call less) counts as in flight without its
/// trajectory: one minute. A request abandoned for good stops holding back the next probe then.
pub const PROBE_PENDING_MS: i64 = 60_000;

/// The budget state, arms, source, confidence and reason that apply.
struct Basis {
    budget: BudgetState,
    arms: Arms,
    source: RecommendationSource,
    confidence: f64,
    evidence: BudgetEvidence,
    reason: String,
}

fn basis(ctx: &Context<'_>, config: &PolicyConfig) -> Basis {
    let budget_config = &config.budget;
    if let Some(state) = ctx.exact.filter(|s| s.budget.current.is_some()) {
        let evidence = state.budget.evidence(budget_config);
        let budget = state.budget.policy_budget(budget_config);
        // Until its own arms hold some evidence, a set ranks its modules with what its
        // siblings lent as well (one failed request, which credits nobody, must not undo it).
        let arms = match borrow(ctx.modules, &ctx.siblings, budget_config) {
            Some(loan) if state.arms.total_pulls() < LOAN_ARMS_UNTIL => {
                state.arms.with_prior(&loan.arms)
            }
            _ => state.arms.clone(),
        };
        return Basis {
            reason: learnt_reason(budget, &evidence),
            budget: state.budget.clone(),
            arms,
            source: RecommendationSource::Exact,
            confidence: state.confidence(config),
            evidence,
        };
    }
    let none = BudgetEvidence {
        samples: 0.0,
        success_rate: None,
    };
    match borrow(ctx.modules, &ctx.siblings, budget_config) {
        Some(loan) => Basis {
            reason: loan_reason(&loan),
            budget: BudgetState::starting_at(loan.budget),
            arms: loan.arms,
            source: RecommendationSource::IntentFallback,
            confidence: loan.confidence,
            evidence: none,
        },
        None => Basis {
            reason: format!(
                "cold start: nothing learnt applies to this intent and module set; the budget \
                 starts at {} and climbs when requests fail",
                budget_config.cold_start
            ),
            budget: BudgetState::default(),
            arms: Arms::new(ctx.modules.len()),
            source: RecommendationSource::Unseen,
            confidence: 0.0,
            evidence: none,
        },
    }
}

fn learnt_reason(budget: u32, evidence: &BudgetEvidence) -> String {
    let what = if budget == 0 {
        "answer without tools".to_owned()
    } else {
        format!("{budget} tool call{}", if budget == 1 { "" } else { "s" })
    };
    match evidence.success_rate {
        Some(rate) => format!(
            "learnt: {what}; requests served this budget succeeded {:.0}% of the time \
             (decayed weight {:.1})",
            rate * 100.0,
            evidence.samples
        ),
        None => format!("learnt: {what}; no request was served this budget yet"),
    }
}

fn loan_reason(loan: &Loan) -> String {
    format!(
        "borrowed from {} module set{} of this intent sharing modules with this one (largest \
         overlap {:.0}%), until this combination has evidence of its own",
        loan.lenders,
        if loan.lenders == 1 { "" } else { "s" },
        loan.best_overlap * 100.0
    )
}

/// The read-only advice for `intent` in context `ctx`: no exploration, nothing logged.
pub fn recommend(intent: &str, ctx: &Context<'_>, config: &PolicyConfig) -> Recommendation {
    let basis = basis(ctx, config);
    let budget = basis.budget.policy_budget(&config.budget);
    let ranked = if budget == 0 {
        Vec::new()
    } else {
        rank_arms(&basis.arms, ctx.modules)
    };
    Recommendation {
        intent: intent.to_owned(),
        modules: ctx.modules.to_vec(),
        budget,
        confidence: basis.confidence,
        source: basis.source,
        reason: basis.reason,
        evidence: basis.evidence,
        optimal_n: ctx.exact.and_then(|s| s.optimal_n(config)),
        ranked,
    }
}

/// The decision `decision_id` for `intent` in context `ctx`, decided at `now_ms`.
///
/// `probe_pending`: a decision of this combination that served one call less is still waiting
/// for its trajectory. No second probe is served until it reports (or is too old to count, see
/// [`PROBE_PENDING_MS`]): with many requests in flight, a probe rate of one half would
/// otherwise serve the lower budget to every request decided before the first result returns.
pub fn decide(
    intent: &str,
    ctx: &Context<'_>,
    config: &PolicyConfig,
    decision_id: u64,
    now_ms: i64,
    probe_pending: bool,
) -> Decision {
    let mut basis = basis(ctx, config);
    if probe_pending {
        basis.budget.probing = false;
    }
    let choice = choose(
        &basis.budget,
        &basis.arms,
        &config.budget,
        &Draws::for_decision(decision_id),
    );
    let mut reason = basis.reason;
    match choice.explored.budget {
        Some(Direction::Up) => reason.push_str("; exploring one call more"),
        Some(Direction::Down) => reason.push_str("; exploring one call less"),
        None => {}
    }
    if choice.explored.order {
        reason.push_str("; exploring another module first");
    }
    Decision {
        decision_id,
        intent: intent.to_owned(),
        modules: ctx.modules.to_vec(),
        budget: choice.budget,
        policy_budget: choice.policy_budget,
        order: choice
            .order
            .iter()
            .map(|&i| ctx.modules[i].clone())
            .collect(),
        explore: choice.explored.any(),
        explored: choice.explored,
        propensity: choice.propensity,
        source: basis.source,
        reason,
        confidence: basis.confidence,
        evidence: basis.evidence,
        decided_ms: now_ms,
    }
}
