//! Criterion bench of the reward arithmetic: `r_tool` on each branch and a full `score`.

use criterion::{Criterion, criterion_group, criterion_main};
use otc_policy::{RewardConfig, r_tool, score};
use std::hint::black_box;

fn reward(c: &mut Criterion) {
    let cfg = RewardConfig::default();
    c.bench_function("r_tool/sin_branch", |b| {
        b.iter(|| r_tool(black_box(3), black_box(1.0), black_box(1.0)))
    });
    c.bench_function("r_tool/cos_branch", |b| {
        b.iter(|| r_tool(black_box(3), black_box(0.0), black_box(1.0)))
    });
    c.bench_function("score/composite", |b| {
        b.iter(|| {
            score(
                black_box(3),
                black_box(Some(1.0)),
                true,
                black_box(0.2),
                &cfg,
            )
        })
    });
}

criterion_group!(benches, reward);
criterion_main!(benches);
