//! The direct-method part of the doubly robust estimate: a model of what serving a budget to a
//! combination yields (composite reward, correctness, calls), learnt online from the
//! trajectories already replayed, so a round's prediction never saw its own outcome.
//!
//! Correctness is the store's own success model: the posterior mean success of the served
//! budget in the logging policy's replayed state ([`crate::budget::Level::success`]), once that
//! level was served; before, the running share of correct requests at that budget. The
//! reward is that success chance times the mean reward of correct requests at the budget plus
//! its complement times the mean reward of failed ones; calls are the mean at the budget. A
//! budget never served in the combination falls back to the combination's means, and a
//! combination never seen to zero (the doubly robust estimate is unbiased whatever the model;
//! a better model only narrows its interval).

use crate::budget::BudgetState;

/// Sums of outcomes of the requests served one budget (or of a whole combination).
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    served: f64,
    correct: f64,
    reward_correct: f64,
    reward_wrong: f64,
    calls: f64,
}

impl Cell {
    fn add(&mut self, correct: bool, reward: f64, calls: f64) {
        self.served += 1.0;
        self.calls += calls;
        if correct {
            self.correct += 1.0;
            self.reward_correct += reward;
        } else {
            self.reward_wrong += reward;
        }
    }

    fn predict(&self, fallback: &Cell, success: Option<f64>) -> [f64; 3] {
        let p = success.unwrap_or(self.correct / self.served);
        let mean = |sum: f64, count: f64, fallback_sum: f64, fallback_count: f64| {
            if count > 0.0 {
                sum / count
            } else if fallback_count > 0.0 {
                fallback_sum / fallback_count
            } else {
                0.0
            }
        };
        let wrong = self.served - self.correct;
        let reward_correct = mean(
            self.reward_correct,
            self.correct,
            fallback.reward_correct,
            fallback.correct,
        );
        let reward_wrong = mean(
            self.reward_wrong,
            wrong,
            fallback.reward_wrong,
            fallback.served - fallback.correct,
        );
        [
            p * reward_correct + (1.0 - p) * reward_wrong,
            p,
            self.calls / self.served,
        ]
    }
}

/// Predicted (reward, accuracy, calls) per (combination, budget).
#[derive(Debug, Default)]
pub(super) struct Model {
    /// By combination, then by budget served.
    cells: Vec<Vec<Cell>>,
    /// By combination.
    combinations: Vec<Cell>,
}

impl Model {
    /// Learns one replayed trajectory of `combination` served `budget`.
    pub(super) fn learn(
        &mut self,
        combination: usize,
        budget: u32,
        correct: bool,
        reward: f64,
        calls: f64,
    ) {
        if self.combinations.len() <= combination {
            self.combinations.resize(combination + 1, Cell::default());
            self.cells.resize(combination + 1, Vec::new());
        }
        let cells = &mut self.cells[combination];
        let at = budget as usize;
        if cells.len() <= at {
            cells.resize(at + 1, Cell::default());
        }
        cells[at].add(correct, reward, calls);
        self.combinations[combination].add(correct, reward, calls);
    }

    /// The predicted (reward, accuracy, calls) of serving `budget` to `combination`, whose
    /// logging state is `state` (if it has one).
    pub(super) fn predict(
        &self,
        combination: usize,
        budget: u32,
        state: Option<&BudgetState>,
    ) -> [f64; 3] {
        let whole = self
            .combinations
            .get(combination)
            .copied()
            .unwrap_or_default();
        let success = state
            .map(|s| s.level(budget))
            .filter(|level| level.served > 0.0)
            .map(|level| level.success());
        let cell = self
            .cells
            .get(combination)
            .and_then(|cells| cells.get(budget as usize))
            .filter(|cell| cell.served > 0.0);
        match cell {
            Some(cell) => cell.predict(&whole, success),
            None if whole.served > 0.0 => whole.predict(&whole, success),
            None => [0.0, success.unwrap_or(0.0), 0.0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_come_from_the_budget_then_the_combination() {
        let mut model = Model::default();
        assert_eq!(model.predict(0, 2, None), [0.0, 0.0, 0.0]);
        model.learn(0, 2, true, 1.0, 2.0);
        model.learn(0, 2, false, -1.0, 2.0);
        model.learn(0, 3, true, 0.5, 3.0);
        assert_eq!(model.predict(0, 2, None), [0.0, 0.5, 2.0]);
        // Budget 1 was never served: the combination's means (2 of 3 correct).
        let [reward, accuracy, calls] = model.predict(0, 1, None);
        assert!((accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((reward - (2.0 / 3.0 * 0.75 - 1.0 / 3.0)).abs() < 1e-12);
        assert!((calls - 7.0 / 3.0).abs() < 1e-12);
    }
}
