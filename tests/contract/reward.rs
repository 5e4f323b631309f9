//! The reward's public contract: its range, its peak, and the JSON shape of a score.

use otc_policy::{RewardConfig, r_tool, score};

#[test]
fn reward_peaks_at_one_when_calls_equal_the_optimum() {
    for n in 1..=50u32 {
        assert_eq!(r_tool(n, f64::from(n), 1.0).unwrap(), 1.0);
    }
}

#[test]
fn reward_stays_in_unit_range_on_a_dense_grid() {
    for m in 0..=200u32 {
        for n in 0..=200u32 {
            let r = r_tool(m, f64::from(n), 1.0).unwrap();
            assert!((0.0..=1.0).contains(&r), "r({m},{n}) = {r}");
        }
    }
}

#[test]
fn default_weights_are_the_seeds() {
    let cfg = RewardConfig::default();
    assert_eq!((cfg.alpha(), cfg.beta()), (1.0, 0.1));
}

#[test]
fn score_json_shape() {
    let s = score(3, Some(1.0), true, 0.2, &RewardConfig::default()).unwrap();
    let mut json = serde_json::to_value(s).unwrap();
    // Values are pinned by the unit snapshots; here only the field names and nesting matter.
    json["r_tool"] = serde_json::json!("<f64>");
    json["composite"] = serde_json::json!("<f64>");
    insta::assert_json_snapshot!(json);
}
