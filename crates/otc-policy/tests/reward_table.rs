//! Snapshot of the tool reward over a grid that covers every branch (m = n = 0, the n = 0 cos
//! branch, and the n > 0 sin branch with integer and fractional n), plus the composite.

use otc_policy::{RewardConfig, r_tool, score};
use std::fmt::Write;

/// Rounds in code so the snapshot never depends on the last bits of libm.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[test]
fn r_tool_grid() {
    let ns = [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0];
    let mut table = String::from("  m \\ n");
    for n in ns {
        write!(table, " {n:>9}").unwrap();
    }
    table.push('\n');
    for m in [0u32, 1, 2, 3, 4, 5, 8, 10, 16, 100] {
        write!(table, "{m:>7}").unwrap();
        for n in ns {
            write!(table, " {:>9.6}", round6(r_tool(m, n, 1.0).unwrap())).unwrap();
        }
        table.push('\n');
    }
    insta::assert_snapshot!(table);
}

#[test]
fn cos_branch_by_smoothing() {
    let mut table = String::from("  m \\ c       0.5       1.0       4.0\n");
    for m in [0u32, 1, 2, 4, 8, 32] {
        write!(table, "{m:>7}").unwrap();
        for c in [0.5, 1.0, 4.0] {
            write!(table, " {:>9.6}", round6(r_tool(m, 0.0, c).unwrap())).unwrap();
        }
        table.push('\n');
    }
    insta::assert_snapshot!(table);
}

#[test]
fn composite_grid() {
    let cfg = RewardConfig::default();
    let mut table = String::from("calls optimal correct r_cost   r_tool composite\n");
    for (m, n, correct, cost) in [
        (1, Some(1.0), true, 0.0),
        (1, Some(1.0), true, 1.0),
        (3, Some(1.0), true, 0.2),
        (3, Some(1.0), false, 0.2),
        (0, Some(0.0), true, 0.0),
        (4, None, false, 0.5),
        (8, Some(2.0), true, 0.3),
    ] {
        let s = score(m, n, correct, cost, &cfg).unwrap();
        let r_tool = s
            .r_tool
            .map_or("unknown".to_string(), |r| format!("{:.6}", round6(r)));
        let n = n.map_or("unknown".to_string(), |n| n.to_string());
        writeln!(
            table,
            "{m:>5} {n:>7} {correct:>7} {cost:>6} {r_tool:>8} {:>9.6}",
            round6(s.composite)
        )
        .unwrap();
    }
    insta::assert_snapshot!(table);
}
