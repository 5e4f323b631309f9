//! Tests of [`super`]: draws, propensities, the action distribution and loans.
use super::*;
use crate::arms::Answerer;

#[test]
fn draws_are_a_function_of_the_id() {
    let a = Draws::for_decision(42);
    assert_eq!(a, Draws::for_decision(42));
    assert_ne!(a.budget(), Draws::for_decision(43).budget());
    assert!((0.0..1.0).contains(&a.budget()));
}

/// The stated propensities are exact: over many decisions the frequency of every
/// (budget, first module) pair matches the probability stated for it, and they sum to 1.
#[test]
fn propensities_match_frequencies() {
    let mut arms = Arms::new(4);
    // Modules 1 and 2 tie at the top; 0 and 3 are worse.
    for _ in 0..10 {
        arms.record_answered(&[0, 1], Answerer::Module(1));
        arms.record_answered(&[3, 2], Answerer::Module(2));
    }
    let config = BudgetConfig {
        explore_up: 0.1,
        explore_down: 0.05,
        explore_order: 0.2,
        ..BudgetConfig::default()
    };
    let budget =
        BudgetState::from_parts(Some(3), (0.0, 0.0), 0.0, (true, false, 0, 0), None, vec![])
            .unwrap();
    let mut counts = std::collections::BTreeMap::new();
    let mut stated = std::collections::BTreeMap::new();
    let trials = 200_000;
    for id in 0..trials {
        let c = choose(&budget, &arms, &config, &Draws::for_decision(id));
        let key = (c.budget, c.order[0]);
        *counts.entry(key).or_insert(0usize) += 1;
        stated.insert(key, c.propensity);
    }
    let total: f64 = stated.values().sum();
    assert!((total - 1.0).abs() < 1e-12, "{stated:?}");
    for (key, p) in &stated {
        let freq = counts[key] as f64 / trials as f64;
        assert!((freq - p).abs() < 0.004, "{key:?}: {freq} vs {p}");
    }
    // Budgets 2 and 3 only with a top module first; budget 4 with any module first.
    assert_eq!(stated.keys().filter(|k| k.0 == 4).count(), 4);
    assert_eq!(stated.keys().filter(|k| k.0 == 2).count(), 2);
}

/// The distribution is the one `choose` samples from: every served (budget, first module)
/// is in it with exactly the propensity `choose` states, and it sums to 1, in every
/// exploration regime (probing, cold, budget 0 and 1, one module).
#[test]
fn the_distribution_is_what_choose_samples() {
    let config = BudgetConfig {
        explore_up: 0.1,
        explore_down: 0.05,
        explore_order: 0.2,
        ..BudgetConfig::default()
    };
    let mut tied = Arms::new(4);
    for _ in 0..10 {
        tied.record_answered(&[0, 1], Answerer::Module(1));
        tied.record_answered(&[3, 2], Answerer::Module(2));
    }
    let single = Arms::new(1);
    for (current, probing) in [
        (Some(3), true),
        (Some(3), false),
        (Some(1), true),
        (Some(0), false),
        (None, false),
    ] {
        for arms in [&tied, &single] {
            let budget = BudgetState::from_parts(
                current,
                (0.0, 0.0),
                0.0,
                (probing, false, 0, 0),
                None,
                vec![],
            )
            .unwrap();
            let actions = distribution(&budget, arms, &config);
            let total: f64 = actions.iter().map(|a| a.probability).sum();
            assert!(
                (total - 1.0).abs() < 1e-12,
                "{current:?} {probing}: {actions:?}"
            );
            for id in 0..2_000 {
                let c = choose(&budget, arms, &config, &Draws::for_decision(id));
                let first = c.order.first().copied();
                let action = actions
                    .iter()
                    .find(|a| a.budget == c.budget && a.first == first)
                    .unwrap_or_else(|| panic!("{c:?} not in {actions:?}"));
                assert!((action.probability - c.propensity).abs() < 1e-12, "{c:?}");
            }
        }
    }
}

#[test]
fn siblings_lend_in_proportion_to_what_they_share() {
    let config = BudgetConfig::default();
    let with_budget = BudgetState::starting_at;
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let asked = names(&["a", "b", "c"]);
    let close = names(&["a", "b", "c", "d"]);
    let far = names(&["c", "x", "y", "z"]);
    let unrelated = names(&["q"]);
    let (b2, b6, b9) = (with_budget(2), with_budget(6), with_budget(9));
    let arms4 = Arms::new(4);
    let arms1 = Arms::new(1);
    let siblings = [
        Sibling {
            modules: &close,
            budget: &b2,
            arms: &arms4,
        },
        Sibling {
            modules: &far,
            budget: &b6,
            arms: &arms4,
        },
        Sibling {
            modules: &unrelated,
            budget: &b9,
            arms: &arms1,
        },
    ];
    let loan = borrow(&asked, &siblings, &config).unwrap();
    // Overlaps 3/4 and 1/6: (0.75·2 + 0.1667·6) / 0.9167 = 2.73, rounded up.
    assert_eq!(loan.budget, 3);
    assert_eq!(loan.lenders, 2);
    assert!(borrow(&asked, &siblings[2..], &config).is_none());
}
