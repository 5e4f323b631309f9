//! How the budget moves: climbing when it fails, descending on strong evidence, probing the
//! level below in episodes with a backoff, and starting over when the path changes. The rule
//! itself is described in the module docs of [`super`].

use super::evidence::{direct_odds, gain_log_odds, may_gain, paired_odds, paired_within_odds};
use super::{BudgetConfig, BudgetState, Level, MAX_BACKOFF, MAX_PROBE_WEIGHT};

impl BudgetState {
    /// Moves the current budget by the rule of the module docs.
    pub(super) fn step(&mut self, config: &BudgetConfig) {
        let Some(k) = self.current else { return };
        let top = config.max_budget;
        let k = k.min(top);
        let recent_success = (self.recent_succeeded + 1.0) / (self.recent_served + 2.0);
        let failing =
            self.recent_served >= config.min_recent && recent_success < config.climb_below;
        // Once the largest budget was served and failed as well, no budget helps (success only
        // grows with the budget): climbing would only spend more calls, and a combination no
        // budget helps would sit at the largest one for good. The descent below brings it
        // down instead. (Its failures count from one request's weight on.) A level above the
        // budget that fails because its agents gave up before using it says the same: they
        // would have stopped there under any larger budget. That may have changed since (an
        // outage ended): a failing budget serves that level again to see, after
        // `recheck_after` observations without a probe or a move (the largest budget, whose
        // agents spend every call) or `gave_up_recheck_after` (a level whose agents stop on
        // their own, and spend only what they would anyway).
        let top_fails = self.level(top).fails(1.0, config);
        let gave_up_above = self
            .levels
            .iter()
            .find(|(l, level)| *l > k && level.fails_by_giving_up(config))
            .map(|&(l, _)| l);
        let nothing_helps = top_fails || gave_up_above.is_some();
        let (recheck, wait) = match gave_up_above {
            Some(level) if !top_fails => (level, gave_up_recheck_after(config)),
            _ => (top, recheck_after(config)),
        };
        if k < top && failing && nothing_helps && self.since_probe >= wait {
            // If it works now, coming back down is expected: quick probes. What was served
            // before is old news that must not decide this check.
            self.climb_to(recheck);
            for (_, level) in &mut self.levels {
                (level.served, level.succeeded, level.gave_up) = (0.0, 0.0, 0.0);
            }
            self.levels.retain(|(_, level)| !level.is_negligible());
            self.hold_first_probe();
            return;
        }
        // Nothing helps, by the tolerance as well: the largest budget (or one whose agents gave
        // up before using it, which serves any larger budget alike) answers about as rarely as
        // no tools at all. Then no tools is the smallest budget within the tolerance of the
        // best: serve it at once, rather than come down one level per probe.
        let nothing_at_all = self.levels.iter().any(|&(l, level)| {
            (l == top || (l > 0 && level.fails_by_giving_up(config)))
                && level.as_good_as_nothing(config)
        });
        if k > 0 && nothing_at_all {
            self.move_to(0);
            self.probing = false;
            self.failed_probes = 0;
            self.since_probe = 0;
            return;
        }
        if k < top && failing && !nothing_helps {
            // A streak of ordinary failures also looks like this: the level left may well work,
            // so probes of it are quick (two failed probes say the world did change).
            self.climb_to(k + 1);
            // Whatever was known at the level left and below it is contradicted by what just
            // happened (the world may have changed); probes will learn it again.
            for (l, level) in &mut self.levels {
                if *l <= k {
                    *level = Level::default();
                }
            }
            self.levels.retain(|(_, level)| !level.is_negligible());
            if k + 1 == top {
                self.hold_first_probe();
            }
            return;
        }
        // The fit behind this test is the dearest step of the rule: only once not failing.
        if k < top
            && self.gains_beyond(k, config) >= config.evidence_odds.ln()
            && !self.paired_denies_gain(k, config)
        {
            // The budget works, but one call more answers clearly more requests (success that
            // rises gradually with the budget): climb, keeping what was learnt at this level.
            // It usually means a probe took the budget a level too low, so it counts as a
            // failed probe and the next one waits longer.
            self.move_to(k + 1);
            self.end_probe(true);
            return;
        }
        // Success can only grow with the budget: a level shown to do as well as the budget
        // shows every level between them does too. So the budget goes to the lowest level with
        // strong evidence, looking down until a level clearly fails (none below it can pass).
        let mut target = k;
        for lower in (0..k).rev() {
            if self.lower_is_as_good(lower, k, config) {
                target = lower;
            } else if self.clearly_fails(lower, k, config) {
                break;
            }
        }
        if target != k {
            self.move_to(target);
            self.failed_probes = 0;
            self.since_probe = 0;
            if self.probing {
                // The probe goes on one level further down, from fresh evidence, and quick: a
                // level that was needed no longer is (the world changed), so the next one
                // may well not be either.
                self.start_probe();
                self.quick_probe = true;
            }
        }
        let due = self.probe_interval(config);
        // Agents that stop on their own and now keep stopping below the budget point at the
        // level below: probe it at once rather than wait for the paired evidence to pile up.
        // Pointing starts a probe at once only until one has failed: then the backoff rules.
        let below = self.level(target.saturating_sub(1));
        let pointed_at = self.failed_probes == 0
            && below.paired >= config.min_direct
            && paired_within_odds(&below, config) >= config.evidence_odds.ln() / 2.0;
        if !self.probing && target > 0 && (self.since_probe >= due || pointed_at) {
            self.start_probe();
        }
        if self.probing && !self.lower_may_work(target, config) {
            self.end_probe(true);
        }
    }

    /// Whether this combination's agents show lower budgets on their own (recent correct
    /// requests that stopped early or said which call answered), so that paired evidence
    /// about the level below is to be trusted.
    pub fn reveals_lower_budgets(&self) -> bool {
        self.early >= 0.5
    }

    /// Observations between probes of the level below: [`BudgetConfig::probe_after`],
    /// doubled for each probe that failed since the budget last moved (after the first), up to
    /// [`MAX_BACKOFF`] doublings.
    pub fn probe_interval(&self, config: &BudgetConfig) -> u32 {
        let backoff = self.failed_probes.saturating_sub(1).min(MAX_BACKOFF);
        config.probe_after.saturating_mul(1 << backoff)
    }

    /// Starts probing the level below the budget from fresh evidence: what an earlier probe
    /// found there is old news (another module order, another month) and must not decide
    /// this one.
    pub(super) fn start_probe(&mut self) {
        let Some(k) = self.current.filter(|&k| k > 0) else {
            return;
        };
        let below = self.level_mut(k - 1);
        below.served = 0.0;
        below.succeeded = 0.0;
        below.gave_up = 0.0;
        self.levels.retain(|(_, level)| !level.is_negligible());
        self.probing = true;
    }

    /// Ends a probe; `failed` doubles the wait before the next one.
    pub(super) fn end_probe(&mut self, failed: bool) {
        self.probing = false;
        if failed {
            self.failed_probes = self.failed_probes.saturating_add(1);
            // One failed quick probe may be bad luck (a request in ten fails at any budget);
            // the second says the level below does not work after all.
            if self.failed_probes >= 2 {
                self.quick_probe = false;
            }
        }
        self.since_probe = 0;
    }

    /// The module that answers first changed (see [`crate::state::CombinationState::observe`]):
    /// the evidence at and below the budget was gathered with another module first, so it is
    /// forgotten (with the recent window). Without this an agent that uses its whole budget
    /// would keep the budget it needed while a useless module was tried first.
    ///
    /// `answered_within` is the budget the trajectory that showed the new first module would
    /// have needed with that module first: the budget it was served without the calls it made
    /// before its first call to that module (`None` when it made none). The budget drops there
    /// at once, never below 1 nor above where it was (if that was too far, the failing rule
    /// climbs back within a few requests). Without such a drop the level below is probed.
    pub fn new_regime(&mut self, answered_within: Option<u32>, led_by: Option<u8>) {
        self.led_by = led_by;
        let Some(k) = self.current else { return };
        let drop_to = answered_within
            .map(|level| level.max(1))
            .filter(|&level| level < k);
        if let Some(level) = drop_to {
            self.move_to(level);
        }
        for (level, evidence) in &mut self.levels {
            if *level <= k {
                *evidence = Level::default();
            }
        }
        self.levels.retain(|(_, level)| !level.is_negligible());
        self.recent_served = 0.0;
        self.recent_succeeded = 0.0;
        self.failed_probes = 0;
        self.since_probe = 0;
        self.quick_probe = true;
        if drop_to.is_none() {
            self.start_probe();
        } else {
            self.probing = false;
        }
    }

    /// Moves up to `budget` because the budget fails: no probe running, the backoff reset,
    /// and the next probes quick.
    fn climb_to(&mut self, budget: u32) {
        self.move_to(budget);
        self.probing = false;
        self.failed_probes = 0;
        self.since_probe = 0;
        self.quick_probe = true;
    }

    /// After a climb to a level whose own evidence must decide first (the largest budget, or
    /// a re-checked one: whether it answers at all, see `nothing_at_all` in [`Self::step`]):
    /// the first probe below it waits twice as long, as after two failed probes. Probing at
    /// once would bring a budget that still answers (almost) nothing down one level per
    /// probe, at every level's price.
    fn hold_first_probe(&mut self) {
        self.failed_probes = 2;
    }

    fn move_to(&mut self, budget: u32) {
        self.current = Some(budget);
        self.recent_served = 0.0;
        self.recent_succeeded = 0.0;
    }

    /// The strongest log odds that some budget above `lower` (with at least `min_direct`
    /// requests served) succeeds more often than `lower` by more than the tolerance: success
    /// only grows with the budget, so any such level says one call more is worth trying, and
    /// the level with the most evidence (often a former budget) says it soonest.
    pub(super) fn gains_beyond(&self, lower: u32, config: &BudgetConfig) -> f64 {
        self.gains_beyond_but(lower, None, config)
    }

    /// [`Self::gains_beyond`] without level `skip` (one whose odds the caller has).
    fn gains_beyond_but(&self, lower: u32, skip: Option<u32>, config: &BudgetConfig) -> f64 {
        // A level that does no better than `lower` cannot favour a gain (the likelihood is
        // concave in the gap, so a gap at or below zero is closer to "as often"): skip the fit.
        let below = self.level(lower);
        self.levels
            .iter()
            .filter(|(l, level)| {
                *l > lower
                    && Some(*l) != skip
                    && level.served >= config.min_direct
                    && may_gain(&below, level)
            })
            .map(|&(l, _)| self.gains_above(lower, l, config))
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// Whether agents that stop on their own say that one call more than `k` gains nothing,
    /// against requests served `k` that failed more often than those served above it: of the
    /// requests correct at `k + 1`, those that stopped within `k` (paired evidence, at least
    /// `min_direct` of it, leaning to "within the tolerance"), and no level above `k + 1`
    /// gains over `k + 1` either. Served evidence compares different requests, so an unlucky
    /// streak of ordinary failures at a level just reached looks like a gain over a former
    /// budget with hundreds of requests behind it, and the budget would alternate between the
    /// level and the one above (paired evidence brings it down, served evidence back up);
    /// paired evidence compares the same requests under both budgets. Only where agents reveal
    /// lower budgets at all, and the gain must not lie further up (success that rises
    /// gradually over several levels).
    fn paired_denies_gain(&self, k: u32, config: &BudgetConfig) -> bool {
        let level = self.level(k);
        self.reveals_lower_budgets()
            && level.paired >= config.min_direct
            && paired_within_odds(&level, config) > 0.0
            && self.gains_beyond(k + 1, config) < config.evidence_odds.ln()
    }

    /// Log odds that budget `above` succeeds more often than budget `lower` by more than the
    /// tolerance, from the requests served each ([`gain_log_odds`]).
    pub(super) fn gains_above(&self, lower: u32, above: u32, config: &BudgetConfig) -> f64 {
        gain_log_odds(&self.level(lower), &self.level(above), config.tolerance)
    }

    /// Strong evidence that budget `lower` succeeds within the tolerance of budget `k`: from
    /// paired evidence (enough weight, a keep rate within the tolerance, and the odds that it
    /// keeps nearly all requests rather than half) or from requests served there (enough
    /// weight, a success rate within the tolerance, and the odds that it succeeds as often as
    /// `k` rather than half as often).
    fn lower_is_as_good(&self, lower: u32, k: u32, config: &BudgetConfig) -> bool {
        let level = self.level(lower);
        let odds = config.evidence_odds.ln();
        let paired = paired_as_good(&level, config);
        // From requests served there: strong odds that the level does not fall short of `k`
        // by more than the tolerance (a few lucky successes are not enough where success
        // rises gradually with the budget), and no level above says otherwise. A quick probe
        // (the level below is expected to work: see `BudgetState::quick_probe`) may also pass
        // on strong odds that the level works rather than clearly fails, without strong odds
        // (half the log odds) that it falls short: a level above that answered its few
        // requests by chance must not hold a quick probe for dozens of requests. (Where the
        // budget itself fails, "works rather than clearly fails" cannot be told apart, and
        // only the first test can bring it down.)
        if paired {
            return true;
        }
        if level.served < config.min_direct {
            return false;
        }
        let strict = self.gains_above(lower, k, config) <= -odds;
        let quick = self.quick_probe
            && lower + 1 == k
            && direct_odds(&level, self.level(k).success()) >= odds
            && self.gains_above(lower, k, config) < odds / 2.0;
        let within = strict || quick;
        // `k`'s own odds are in `within`.
        within && self.gains_beyond_but(lower, Some(k), config) <= 0.0
    }

    /// Strong evidence that budget `lower` does clearly worse than budget `k`: requests served
    /// there, or agents that stop on their own showing that they need more.
    fn clearly_fails(&self, lower: u32, k: u32, config: &BudgetConfig) -> bool {
        let level = self.level(lower);
        let odds = config.evidence_odds.ln();
        let served = level.served >= 1.0 && direct_odds(&level, self.level(k).success()) <= -odds;
        let revealed =
            level.paired >= config.min_evidence && paired_within_odds(&level, config) <= -odds;
        served || revealed
    }

    /// Whether the evidence still allows that one level below `k` works: not when the odds
    /// say that requests served there clearly fail, nor when agents that stop on their own
    /// clearly needed `k` (paired evidence; only trusted when this combination's agents stop
    /// on their own at all), nor when `k` clearly gains more than the tolerance over it, nor
    /// after [`MAX_PROBE_WEIGHT`] requests served there without a verdict.
    pub(super) fn lower_may_work(&self, k: u32, config: &BudgetConfig) -> bool {
        if k == 0 {
            return false;
        }
        let lower = self.level(k - 1);
        let odds = config.evidence_odds.ln();
        let failed_there = direct_odds(&lower, self.level(k).success()) <= -odds;
        let revealed_need =
            self.reveals_lower_budgets() && paired_within_odds(&lower, config) <= -odds;
        // Or when the odds say the level below falls short of the tolerance (it still answers
        // many requests, just clearly fewer).
        let falls_short = self.gains_above(k - 1, k, config) >= odds;
        // No verdict after this many requests: the level is at the edge of the tolerance,
        // where serving it half the time costs more than it can save.
        let undecided = lower.served >= MAX_PROBE_WEIGHT;
        !(failed_there || revealed_need || falls_short || undecided)
    }
}

/// Observations a failing budget waits, once the largest budget failed too, before serving the
/// largest one again to see whether something changed: the longest wait between probes.
fn recheck_after(config: &BudgetConfig) -> u32 {
    config.probe_after.saturating_mul(1 << MAX_BACKOFF)
}

/// Observations a failing budget waits, once a level above failed because its agents gave up,
/// before serving that level again: four times [`BudgetConfig::probe_after`]. Agents that stop
/// on their own spend there only the calls they would spend anyway, so a re-check is cheap,
/// and an outage's end is found within about this many requests.
fn gave_up_recheck_after(config: &BudgetConfig) -> u32 {
    config.probe_after.saturating_mul(4)
}

/// Strong paired evidence that `level` keeps nearly all requests correct at higher budgets:
/// enough weight, a keep rate within the tolerance, and the odds that it keeps nearly all
/// rather than half.
fn paired_as_good(level: &Level, config: &BudgetConfig) -> bool {
    level.paired >= config.min_evidence
        && level.keep_rate() >= 1.0 - config.tolerance
        && paired_odds(level, config) >= config.evidence_odds.ln()
}
