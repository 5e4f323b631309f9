//! From learnt states to advice: the read-only [`Recommendation`] and the logged [`Decision`].
//! Pure: every policy store and the in-memory policy of the simulator both call these functions
//! with the states they hold, so they cannot disagree.
//!
//! Where the advice comes from, in order: the exact combination's own state; else a loan from
//! the intent's module sets that share modules with it ([`crate::decision::borrow`]); else the
//! cold-start budget with every module untried.

use crate::arms::Arms;
use crate::budget::{BudgetEvidence, BudgetState, Direction, ExplorationFacts};
use crate::config::PolicyConfig;
use crate::decision::{Action, Draws, Explored, Loan, Sibling, borrow, choose, distribution_at};
use crate::state::{CombinationState, Recommendation, RecommendationSource, rank_arms};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
    why: Why,
}

/// What the reason sentence says; written out only where a reason is returned (the off-policy
/// replay asks for a million bases and reads no reason).
enum Why {
    /// The budget learnt, and how many sibling sets lend the ranking (0: none).
    Learnt(u32, usize),
    Borrowed {
        lenders: usize,
        best_overlap: f64,
    },
    ColdStart(u32),
}

impl Basis {
    fn reason(&self) -> String {
        match self.why {
            // A budget of 0 ranks no module, so no loan is worth a word.
            Why::Learnt(budget, lenders) if budget == 0 || lenders == 0 => {
                learnt_reason(budget, &self.evidence)
            }
            Why::Learnt(budget, lenders) => format!(
                "{}; modules ranked with what {lenders} sibling module set{} lend{} until this \
                 set's own calls have {LOAN_ARMS_UNTIL} correct requests behind them",
                learnt_reason(budget, &self.evidence),
                if lenders == 1 { "" } else { "s" },
                if lenders == 1 { "s" } else { "" },
            ),
            Why::Borrowed {
                lenders,
                best_overlap,
            } => loan_reason(lenders, best_overlap),
            Why::ColdStart(start) => format!(
                "cold start: nothing learnt applies to this intent and module set; the budget \
                 starts at {start}, climbs when requests fail and comes down when fewer calls \
                 answer as well"
            ),
        }
    }
}

/// Where a combination's advice comes from (module docs), before anything is computed from
/// it: the off-policy replay asks for a million of these and needs no reason, confidence or
/// copy of the state.
#[derive(Debug)]
pub enum Grounds<'a> {
    /// The combination's own state, with what its siblings lend its arms while they are
    /// young (see [`LOAN_ARMS_UNTIL`]).
    Exact(&'a CombinationState, Option<Loan>),
    /// A loan from sibling module sets.
    Borrowed(Loan),
    /// Nothing applies.
    ColdStart(usize),
}

impl<'a> Grounds<'a> {
    /// The grounds of `ctx`.
    pub fn of(ctx: &Context<'a>, config: &PolicyConfig) -> Self {
        let budget_config = &config.budget;
        if let Some(state) = ctx.exact.filter(|s| s.budget.current.is_some()) {
            // Until its own arms hold some evidence, a set ranks its modules with what its
            // siblings lent as well (one failed request, which credits nobody, must not undo
            // it).
            let loan = if state.arms.total_pulls() < LOAN_ARMS_UNTIL {
                borrow(ctx.modules, &ctx.siblings, budget_config)
            } else {
                None
            };
            return Self::Exact(state, loan);
        }
        match borrow(ctx.modules, &ctx.siblings, budget_config) {
            Some(loan) => Self::Borrowed(loan),
            None => Self::ColdStart(ctx.modules.len()),
        }
    }

    /// The budget state and arms a decision is taken from.
    fn parts(&self) -> (Cow<'_, BudgetState>, Cow<'_, Arms>) {
        match self {
            Self::Exact(state, None) => (Cow::Borrowed(&state.budget), Cow::Borrowed(&state.arms)),
            Self::Exact(state, Some(loan)) => (
                Cow::Borrowed(&state.budget),
                Cow::Owned(state.arms.with_prior(&loan.arms)),
            ),
            Self::Borrowed(loan) => (
                Cow::Owned(BudgetState::starting_at(loan.budget)),
                Cow::Borrowed(&loan.arms),
            ),
            Self::ColdStart(modules) => (
                Cow::Owned(BudgetState::default()),
                Cow::Owned(Arms::new(*modules)),
            ),
        }
    }

    /// Every action a decision on these grounds could take under `config`, with its
    /// probability: what [`decide`] serves, as a distribution instead of one draw.
    /// `probe_pending` as for [`decide`].
    pub fn actions(&self, config: &PolicyConfig, probe_pending: bool) -> Vec<Action> {
        let (budget, arms) = self.parts();
        let facts = Self::facts(&budget, config, probe_pending);
        distribution_at(facts.exploration(&config.budget), &arms, &config.budget)
    }

    /// [`Self::actions`] under two configs that differ only in their exploration knobs (see
    /// [`BudgetState::exploration_facts`]), for the price of one.
    pub fn actions_pair(
        &self,
        config: &PolicyConfig,
        other: &PolicyConfig,
        probe_pending: bool,
    ) -> (Vec<Action>, Vec<Action>) {
        let (budget, arms) = self.parts();
        let facts = Self::facts(&budget, config, probe_pending);
        (
            distribution_at(facts.exploration(&config.budget), &arms, &config.budget),
            distribution_at(facts.exploration(&other.budget), &arms, &other.budget),
        )
    }

    fn facts(budget: &BudgetState, config: &PolicyConfig, probe_pending: bool) -> ExplorationFacts {
        let mut facts = budget.exploration_facts(&config.budget);
        // A probe in flight holds back the next (see `decide`).
        facts.may_probe &= !probe_pending;
        facts
    }
}

fn basis(ctx: &Context<'_>, config: &PolicyConfig) -> Basis {
    let budget_config = &config.budget;
    let grounds = Grounds::of(ctx, config);
    let none = BudgetEvidence {
        samples: 0.0,
        success_rate: None,
    };
    let (budget, arms) = grounds.parts();
    let (budget, arms) = (budget.into_owned(), arms.into_owned());
    match grounds {
        Grounds::Exact(state, loan) => Basis {
            why: Why::Learnt(
                state.budget.policy_budget(budget_config),
                loan.as_ref().map_or(0, |loan| loan.lenders),
            ),
            budget,
            arms,
            source: RecommendationSource::Exact,
            confidence: state.confidence(config),
            evidence: state.budget.evidence(budget_config),
        },
        Grounds::Borrowed(loan) => Basis {
            why: Why::Borrowed {
                lenders: loan.lenders,
                best_overlap: loan.best_overlap,
            },
            budget,
            arms,
            source: RecommendationSource::IntentFallback,
            confidence: loan.confidence,
            evidence: none,
        },
        Grounds::ColdStart(_) => Basis {
            why: Why::ColdStart(budget_config.cold_start),
            budget,
            arms,
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

fn loan_reason(lenders: usize, best_overlap: f64) -> String {
    format!(
        "borrowed from {lenders} module set{} of this intent sharing modules with this one \
         (largest overlap {:.0}%), until this combination has evidence of its own",
        if lenders == 1 { "" } else { "s" },
        best_overlap * 100.0
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
        reason: basis.reason(),
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
    let mut reason = basis.reason();
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
