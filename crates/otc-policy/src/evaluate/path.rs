//! The path term of an evaluation's intervals: what the candidate's own learning path adds to
//! the uncertainty of its closed-loop value, beyond the sampling error the estimators report.
//!
//! The replay builds the candidate's state from the logged traffic, so the candidate's budget
//! moves when the logged evidence moves it. Most moves follow the traffic closely (a budget
//! that fails climbs within a few requests; agents that stop on their own, or say which call
//! answered, show a lower budget as soon as it suffices), but two kinds wait on evidence that
//! comes at random times, and a candidate running on its own would have met it at other
//! times than the log did:
//!
//! * a move **down on a probe's evidence** (during a probe; a drop because another module now
//!   comes first is not one) where the agents reveal nothing of lower budgets (a silent
//!   over-caller): probes come once per probe interval
//!   ([`BudgetState::probe_interval`], up to 400 requests once probes kept failing), so the
//!   log's probe and the candidate's each fall anywhere in that interval. Its timing's
//!   standard deviation, as the difference of two independent uniform draws, is
//!   `interval / √6` requests of the combination. The moves down that follow within
//!   [`crate::budget::BudgetConfig::probe_after`] requests (one probe going on down) shift
//!   with it;
//! * a **climb for a gain** (success that rises gradually with the budget), which waits until
//!   up-exploration has shown the gain: the wait is taken as exponential, with the wait the
//!   log saw (since the budget last moved) as its standard deviation.
//!
//! The candidate's own run also draws its actions (exploration) where the estimators average
//! over them: each round adds what that draw spreads its outcome, on the same request
//! ([`draw_variance`]). Without it an outcome the model predicts exactly (the calls of agents
//! that use their whole budget) got an interval of width 0 from a log of one state, though
//! the candidate's run, exploring, would serve other budgets at random.
//!
//! Moving such a shift by `d` requests changes the outcome total by `d` times the difference
//! of the predicted outcome (the direct-method model) at the level left and the level
//! reached. A shift's timing deviation is at most that of a uniform draw over the
//! combination's requests in scope. Shifts are taken as independent: their variances add, and
//! the path's standard deviation of a mean is the root of the sum over the rounds in scope.
//!
//! What no log can show: a change the log never probed for. A silent over-caller's budget
//! whose level below was last probed long ago may have become too large since, and a
//! candidate probing at other times could have found it; [`PathReport::unprobed`] names such
//! module sets, for a note.
//!
//! Checked against closed-loop truth with the simulator (`tests/feature/offline_evaluation.rs`).

use super::model::Model;
use crate::budget::{BudgetConfig, BudgetState};

/// What the candidate's own draw of an action spreads one round's outcomes (reward, accuracy,
/// calls), from its actions' (budget, probability, predicted outcomes); `actions` is sorted
/// by budget in place.
///
/// Accuracy: a request answers under a budget when the budget reaches the calls it needs, so
/// two draws answer alike unless the need lies between them. With `m(b)` the predicted success
/// at budget `b`, the variance over the draw, averaged over requests, is
/// `Σ π(b)·m(b) − Σ π(a)·π(b)·m(min(a, b))`: `p·(1 − p)·Δm` for two budgets that differ in
/// success by `Δm`, not the `p·(1 − p)·Δm²` of the predictions' own spread, which is far
/// smaller. Reward and calls: the spread of the predictions, `Σ π·m² − (Σ π·m)²`, exact for
/// calls when the agents use the whole budget (they are the budget).
pub(super) fn draw_variance(actions: &mut [(u32, f64, [f64; 3])]) -> [f64; 3] {
    let mut variance = [0.0; 3];
    for m in [0, 2] {
        let mean: f64 = actions.iter().map(|(_, p, v)| p * v[m]).sum();
        let square: f64 = actions.iter().map(|(_, p, v)| p * v[m] * v[m]).sum();
        variance[m] = (square - mean * mean).max(0.0);
    }
    actions.sort_by_key(|&(budget, ..)| budget);
    // P(min of two draws = b) = P(B ≥ b)² − P(B > b)²; budgets may repeat (several first
    // modules), with one prediction per budget.
    let (mut mean, mut both, mut tail) = (0.0, 0.0, actions.iter().map(|a| a.1).sum::<f64>());
    let mut at = 0;
    while at < actions.len() {
        let budget = actions[at].0;
        let success = actions[at].2[1];
        let share: f64 = actions[at..]
            .iter()
            .take_while(|a| a.0 == budget)
            .map(|a| a.1)
            .sum();
        at += actions[at..].iter().take_while(|a| a.0 == budget).count();
        mean += share * success;
        both += success * (tail * tail - (tail - share).powi(2));
        tail -= share;
    }
    variance[1] = (mean - both).max(0.0);
    variance
}

/// One move whose timing is random, or a run of moves down in quick succession.
#[derive(Debug, Clone, Copy)]
struct Shift {
    /// Standard deviation of when it happens, in requests of its combination.
    timing_sd: f64,
    /// Predicted (reward, accuracy, calls) at the level it left.
    from: [f64; 3],
    /// Predicted (reward, accuracy, calls) at the level it reached.
    to: [f64; 3],
}

/// One combination's moves.
#[derive(Debug, Default)]
struct Track {
    /// Trajectories folded.
    observed: u64,
    /// `observed` at the last move down on a probe.
    last_down: u64,
    /// `observed` at the last move either way.
    last_move: u64,
    /// The run of moves down still growing.
    open: Option<Shift>,
    shifts: Vec<Shift>,
    /// Rounds in scope.
    rounds: u64,
    /// Requests since the level below the budget was last probed, where its agents would not
    /// show it otherwise (as of the last trajectory; 0 when they would, or while probing).
    unprobed_for: u32,
}

/// The shifts of every combination of a replay.
#[derive(Debug, Default)]
pub(super) struct PathTerm {
    tracks: Vec<Track>,
    /// The summed variance of the candidate's own draws of an action (reward, accuracy, calls).
    draws: [f64; 3],
}

/// What the path term needs of a state before a trajectory is folded into it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Before {
    budget: Option<u32>,
    interval: u32,
    /// Its agents show lower budgets on their own: a move down follows the traffic.
    revealing: bool,
    /// A probe was under way: a move down is the probe's (not a new first module's).
    probing: bool,
    failed_probes: u32,
}

impl Before {
    /// What `state` (none before its first trajectory) was.
    pub(super) fn of(state: Option<&BudgetState>, config: &BudgetConfig) -> Self {
        Self {
            budget: state.and_then(|s| s.current),
            interval: state.map_or(config.probe_after, |s| s.probe_interval(config)),
            revealing: state.is_some_and(BudgetState::reveals_lower_budgets),
            probing: state.is_some_and(|s| s.probing),
            failed_probes: state.map_or(0, |s| s.failed_probes),
        }
    }
}

/// The path term of one evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct PathReport {
    /// The path's standard deviation of each outcome's mean (reward, accuracy, calls): the
    /// moves' and the candidate's own draws'.
    pub(super) sd: [f64; 3],
    /// The moves' part of it alone.
    pub(super) moves_sd: [f64; 3],
    /// Shifts counted (a run of moves down on one probe is one), in module sets with rounds
    /// in scope.
    pub(super) shifts: usize,
    /// Module sets in scope whose level below the budget went unprobed, at the log's end, for
    /// more than four times `probe_after` and a quarter of their rounds in scope, with agents
    /// that would not show it, by name.
    pub(super) unprobed: Vec<String>,
}

impl PathTerm {
    fn track(&mut self, combination: usize) -> &mut Track {
        if self.tracks.len() <= combination {
            self.tracks.resize_with(combination + 1, Track::default);
        }
        &mut self.tracks[combination]
    }

    /// A round of `combination` in scope, where the model's prediction varies by
    /// `draw_variance` over the actions the candidate could draw.
    pub(super) fn round(&mut self, combination: usize, draw_variance: [f64; 3]) {
        self.track(combination).rounds += 1;
        for (total, variance) in self.draws.iter_mut().zip(draw_variance) {
            *total += variance;
        }
    }

    /// A trajectory of `combination` was folded into `state`, which was `before`; `counts`
    /// says whether a move it caused is in scope.
    pub(super) fn folded(
        &mut self,
        combination: usize,
        before: Before,
        state: &BudgetState,
        (model, config, counts): (&Model, &BudgetConfig, bool),
    ) {
        let track = self.track(combination);
        track.observed += 1;
        let blind = state.current.is_some_and(|k| k > 0)
            && !state.probing
            && !state.reveals_lower_budgets();
        track.unprobed_for = if blind { state.since_probe } else { 0 };
        let (Some(left), Some(reached)) = (before.budget, state.current) else {
            return;
        };
        if reached == left {
            return;
        }
        let predict = |level| model.predict(combination, level, Some(state));
        let waited = (track.observed - track.last_move) as f64;
        track.last_move = track.observed;
        if reached > left {
            track.shifts.extend(track.open.take());
            // A climb for a gain counts as a failed probe; a climb because the budget failed
            // resets them.
            if counts && state.failed_probes > before.failed_probes {
                track.shifts.push(Shift {
                    timing_sd: waited,
                    from: predict(left),
                    to: predict(reached),
                });
            }
            return;
        }
        if !counts || before.revealing || !before.probing {
            return;
        }
        let to = predict(reached);
        match &mut track.open {
            Some(open) if track.observed - track.last_down <= u64::from(config.probe_after) => {
                open.to = to;
            }
            _ => {
                track.shifts.extend(track.open.take());
                track.open = Some(Shift {
                    timing_sd: f64::from(before.interval) / 6f64.sqrt(),
                    from: predict(left),
                    to,
                });
            }
        }
        track.last_down = track.observed;
    }

    /// The path term over `rounds` rounds in scope. `probe_after` is the candidate's.
    pub(super) fn finish(
        &self,
        rounds: usize,
        probe_after: u32,
        name: impl Fn(usize) -> String,
    ) -> PathReport {
        let mut variance = [0.0; 3];
        let mut shifts = 0;
        for track in self.tracks.iter().filter(|t| t.rounds > 0) {
            let longest = track.rounds as f64 / 12f64.sqrt();
            for shift in track.shifts.iter().chain(&track.open) {
                shifts += 1;
                let sd = shift.timing_sd.min(longest);
                for (m, total) in variance.iter_mut().enumerate() {
                    *total += ((shift.from[m] - shift.to[m]) * sd).powi(2);
                }
            }
        }
        // Long: over four times `probe_after`, and over a quarter of the set's rounds (in a
        // long log, a probe interval of the longest backoff is what a settled budget waits).
        let long = |t: &Track| {
            let span = u64::from(t.unprobed_for);
            span > u64::from(probe_after.saturating_mul(4)) && span * 4 > t.rounds
        };
        let of_mean = |v: f64| v.sqrt() / rounds.max(1) as f64;
        PathReport {
            sd: std::array::from_fn(|m| of_mean(variance[m] + self.draws[m])),
            moves_sd: variance.map(of_mean),
            shifts,
            unprobed: self
                .tracks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.rounds > 0 && long(t))
                .map(|(c, _)| name(c))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::BudgetObservation;

    /// A silent over-caller whose need falls from 5 to 2 half-way: its budget comes down on a
    /// probe, whose timing is random, so the path adds to the calls' uncertainty; the same
    /// log with agents that say which call answered comes down as the traffic shows it, and
    /// adds nothing.
    #[test]
    fn a_move_down_on_a_probe_adds_to_the_spread_and_one_the_traffic_shows_does_not() {
        let need = |i: u64, _: f64| (!i.is_multiple_of(10)).then_some(if i < 1000 { 5 } else { 2 });
        let (silent_budget, silent) = fold_run(2000, need, false, true);
        let (told_budget, told) = fold_run(2000, need, true, true);
        assert_eq!((silent_budget, told_budget), (Some(2), Some(2)));
        assert!(silent.sd[2] > 0.02 && silent.shifts >= 1, "{silent:?}");
        assert!(
            told.sd[2] < silent.sd[2] / 4.0,
            "{told:?} against {silent:?}"
        );
        // Moves out of scope add nothing.
        let (_, outside) = fold_run(2000, need, false, false);
        assert_eq!((outside.sd, outside.shifts), ([0.0; 3], 0));
    }

    /// Folds `steps` requests of an over-caller whose answer needs `need(i, grade)` calls
    /// (none: never answerable), with a seeded grade per request, into one combination's
    /// state, model and path term; `answered`: it says which call answered; `counts`: the
    /// moves are in scope. Returns the last budget and the path report.
    fn fold_run(
        steps: u64,
        need: impl Fn(u64, f64) -> Option<u32>,
        answered: bool,
        counts: bool,
    ) -> (Option<u32>, PathReport) {
        let config = BudgetConfig::default();
        let mut rng = crate::synthetic::Rng::new(7);
        let (mut state, mut model, mut path) = (
            BudgetState::default(),
            Model::default(),
            PathTerm::default(),
        );
        for i in 0..steps {
            let served = crate::budget::tests::serve(&state, &config, i).1;
            let need = need(i, rng.unit());
            let correct = need.is_some_and(|n| n <= served);
            let before = Before::of(Some(&state), &config);
            let observation = BudgetObservation {
                served: Some(served),
                calls: served,
                correct,
                answered_at: need.filter(|_| answered && correct),
            };
            state.observe(observation, &config, 0.995);
            path.round(0, [0.0; 3]);
            path.folded(0, before, &state, (&model, &config, counts));
            model.learn(0, served, correct, 0.0, f64::from(served));
        }
        let report = path.finish(steps as usize, config.probe_after, |c| c.to_string());
        (state.current, report)
    }

    /// A climb for a gain (success rising gradually with the budget) waits until
    /// up-exploration has shown the gain, so a second run would have climbed at another time:
    /// it adds to the spread. A climb because the budget started failing follows the traffic
    /// within a few requests and adds nothing.
    #[test]
    fn a_climb_for_a_gain_adds_to_the_spread_and_one_forced_by_failures_does_not() {
        // 80 % of requests answerable with 1 call, 98 % within 2: the second call's gain is
        // beyond the tolerance, but the first call alone answers most, so nothing fails.
        let graded = |_: u64, grade: f64| {
            if grade < 0.8 {
                Some(1)
            } else if grade < 0.98 {
                Some(2)
            } else {
                None
            }
        };
        let (gain_budget, gain) = fold_run(3000, graded, false, true);
        assert_eq!(gain_budget, Some(2));
        assert!(gain.shifts >= 1 && gain.sd[1] > 0.0, "{gain:?}");
        // The need jumps from 1 to 3 half-way: the budget of 1 fails outright and climbs.
        let jump = |i: u64, grade: f64| (grade < 0.95).then_some(if i < 1500 { 1 } else { 3 });
        let (forced_budget, forced) = fold_run(3000, jump, false, true);
        assert_eq!(forced_budget, Some(3));
        assert_eq!(forced.sd[1], 0.0, "{forced:?}");
    }

    /// However long the log's wait, a shift's timing spread is at most that of a uniform draw
    /// over the combination's rounds in scope (rounds / √12): a shift cannot move outside them.
    #[test]
    fn a_shift_spreads_over_no_more_than_its_combination_rounds() {
        let shift = Shift {
            timing_sd: 1e6,
            from: [0.0, 0.0, 5.0],
            to: [0.0, 0.0, 2.0],
        };
        let mut path = PathTerm::default();
        for _ in 0..1200 {
            path.round(0, [0.0; 3]);
        }
        path.track(0).shifts.push(shift);
        let report = path.finish(1200, 25, |c| c.to_string());
        // 3 calls per request over 1200 / √12 requests, as a mean over 1200 rounds.
        let capped = 3.0 * (1200.0 / 12f64.sqrt()) / 1200.0;
        assert!((report.sd[2] - capped).abs() < 1e-12, "{report:?}");
        // The candidate's own draws add in quadrature.
        let mut drawn = PathTerm::default();
        for _ in 0..1200 {
            drawn.round(0, [0.0, 0.0, 0.25]);
        }
        drawn.track(0).shifts.push(shift);
        let report = drawn.finish(1200, 25, |c| c.to_string());
        let with_draws = (capped.powi(2) + 1200.0 * 0.25 / 1200f64.powi(2)).sqrt();
        assert!((report.sd[2] - with_draws).abs() < 1e-12, "{report:?}");
    }

    /// Two budgets drawn with shares `p` and `1 − p`, answering `m1` and `m2` of requests: two
    /// draws answer a request differently only when its need lies between them, so accuracy
    /// spreads by `p·(1 − p)·(m2 − m1)`; the calls (the budget itself, for agents that use it
    /// whole) by `p·(1 − p)·(k2 − k1)²`. Several first modules at one budget count as one.
    #[test]
    fn a_draw_spreads_accuracy_by_the_success_between_the_budgets() {
        let (p, m1, m2) = (0.3, 0.2, 0.9);
        let mut two = [(3, 1.0 - p, [0.0, m2, 3.0]), (2, p, [0.0, m1, 2.0])];
        let variance = draw_variance(&mut two);
        assert!(
            (variance[1] - p * (1.0 - p) * (m2 - m1)).abs() < 1e-12,
            "{variance:?}"
        );
        assert!((variance[2] - p * (1.0 - p)).abs() < 1e-12, "{variance:?}");
        assert_eq!(variance[0], 0.0);
        let mut split = [
            (2, p / 2.0, [0.0, m1, 2.0]),
            (3, 1.0 - p, [0.0, m2, 3.0]),
            (2, p / 2.0, [0.0, m1, 2.0]),
        ];
        let again = draw_variance(&mut split);
        assert!((again[1] - variance[1]).abs() < 1e-12 && (again[2] - variance[2]).abs() < 1e-12);
        // One budget only: nothing to spread.
        assert_eq!(draw_variance(&mut [(2, 1.0, [0.5, m1, 2.0])]), [0.0; 3]);
    }
}
