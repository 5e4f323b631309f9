//! Properties of the OTC reward that must hold for every input, not just the reference values.

use otc_policy::{RewardConfig, composite, r_tool};
use proptest::prelude::*;
use std::f64::consts::PI;

proptest! {
    #[test]
    fn r_tool_stays_in_unit_range(m in 0u32..100_000, n in 0.0f64..1e6, c in 1e-6f64..1e3) {
        let r = r_tool(m, n, c).unwrap();
        prop_assert!((0.0..=1.0).contains(&r), "r({m},{n},{c}) = {r}");
    }

    #[test]
    fn r_tool_is_symmetric_for_positive_n(m in 1u32..10_000, n in 1u32..10_000) {
        let a = r_tool(m, f64::from(n), 1.0).unwrap();
        let b = r_tool(n, f64::from(m), 1.0).unwrap();
        prop_assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn peak_is_unique_at_m_equals_n(m in 0u32..10_000, n in 1u32..10_000) {
        let r = r_tool(m, f64::from(n), 1.0).unwrap();
        if m == n {
            prop_assert_eq!(r, 1.0);
        } else {
            prop_assert!(r < 1.0, "r({m},{n}) = {r} but m != n");
        }
    }

    #[test]
    fn simplified_form_equals_the_papers_literal_form(m in 0u32..10_000, n in 0.01f64..10_000.0) {
        let mf = f64::from(m);
        let f = 2.0 * n * mf / (mf + n);
        let literal = (f * PI / (2.0 * n)).sin().clamp(0.0, 1.0);
        prop_assert!((r_tool(m, n, 1.0).unwrap() - literal).abs() < 1e-9);
    }

    #[test]
    fn more_calls_past_the_optimum_never_score_higher(m in 0u32..10_000, n in 0u32..1000) {
        prop_assume!(m >= n);
        let here = r_tool(m, f64::from(n), 1.0).unwrap();
        let next = r_tool(m + 1, f64::from(n), 1.0).unwrap();
        prop_assert!(next <= here + 1e-12);
    }

    #[test]
    fn composite_stays_in_its_range(
        r in 0.0f64..=1.0, correct: bool, cost in 0.0f64..=1.0,
        alpha in 0.0f64..10.0, beta in 0.0f64..10.0,
    ) {
        let cfg = RewardConfig::new(alpha, beta, 1.0).unwrap();
        let v = composite(r, correct, cost, &cfg).unwrap();
        prop_assert!(v >= -beta - 1e-12 && v <= alpha + 1e-12);
    }

    #[test]
    fn any_float_input_is_a_value_or_a_typed_error(n: f64, c: f64, cost: f64) {
        // Arbitrary bit patterns, NaN and infinities included: never a panic, never a NaN result.
        if let Ok(r) = r_tool(3, n, c) {
            prop_assert!(r.is_finite());
        }
        if let Ok(v) = composite(0.5, true, cost, &RewardConfig::default()) {
            prop_assert!(v.is_finite());
        }
    }
}
