//! The latency of one `meter` call on PostgreSQL (one transaction: the tenant's advisory lock,
//! the idempotency and quota reads, the append and two roll-ups), with and without a hard
//! quota, and of a retry (a `Duplicate`). The figure in ARCHITECTURE.md comes from here:
//! `cargo run -p usage-store-postgres --example meter_latency` (server at
//! `OTC_TEST_DATABASE_URL`, default the local `test` database; works in a scratch schema that
//! it drops at the end).

use postgres_kit::testing::TestSchema;
use std::time::{Duration, Instant};
use usage_store::period::QuotaPeriod;
use usage_store::{MeterEvent, Quota, QuotaKind, UsageBackend};
use usage_store_postgres::{APPLICATION_NAME, PostgresUsageStore};

fn event(tenant: &str, i: usize, ts_ms: i64) -> MeterEvent {
    MeterEvent {
        tenant: tenant.into(),
        request_id: format!("req-{i}"),
        module: format!("module-{}", i % 4),
        tool: "tool".into(),
        run_units: 0.25,
        timestamp_ms: ts_ms,
        idempotency_key: format!("{i}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One timestamp for every event, so a retry is the same event.
    let ts_ms = jiff::Timestamp::now().as_millisecond() - 1000;
    let schema = TestSchema::new();
    let store = PostgresUsageStore::open_with(&schema.options(APPLICATION_NAME))?;
    let quota = Quota {
        limit: 1e9,
        period: QuotaPeriod::Month,
        kind: QuotaKind::Hard,
    };
    store.set_quota("quota", &quota)?;
    // Warm up: the pool's session and the server's caches.
    for i in 0..100 {
        store.meter(&event("warm", i, ts_ms))?;
    }
    const N: usize = 2000;
    let free = measure(N, |i| store.meter(&event("free", i, ts_ms)).map(drop))?;
    let quota = measure(N, |i| store.meter(&event("quota", i, ts_ms)).map(drop))?;
    let retry = measure(N, |i| store.meter(&event("quota", i, ts_ms)).map(drop))?;
    println!("meter, no quota       {free}");
    println!("meter, hard quota     {quota}");
    println!("meter, retry (dup)    {retry}");
    Ok(())
}

/// p50 and p99 of `n` calls.
fn measure(
    n: usize,
    mut call: impl FnMut(usize) -> Result<(), usage_store::UsageError>,
) -> Result<String, usage_store::UsageError> {
    let mut times: Vec<Duration> = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        call(i)?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(format!(
        "p50 {:>7.1} µs   p99 {:>7.1} µs",
        times[n / 2].as_secs_f64() * 1e6,
        times[n * 99 / 100].as_secs_f64() * 1e6
    ))
}
