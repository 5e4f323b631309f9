//! What the pool saves: the latency of one trivial query through a pooled session against
//! the same query on a fresh session (connect, session settings, query, close). The figure in
//! ARCHITECTURE.md comes from here:
//! `cargo run -p postgres-kit --example roundtrip` (server at `OTC_TEST_DATABASE_URL`, default
//! the local `test` database). Writes nothing: the schema it names is never created.

use postgres_kit::{Options, Pool};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("OTC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let pool = Pool::new(&Options::new(
        &url,
        "postgres_kit_roundtrip",
        "otc-roundtrip",
    )?)?;
    // Warm up: the first session and the server's caches.
    for _ in 0..50 {
        pool.get()?.simple_query("SELECT 1")?;
    }
    let pooled = measure(2000, || {
        pool.get()?.simple_query("SELECT 1")?;
        Ok(())
    })?;
    let prepared = measure(2000, || {
        pool.get()?.query_one("SELECT 1", &[])?;
        Ok(())
    })?;
    let fresh = measure(200, || {
        let mut client = pool.connect()?;
        client.simple_query("SELECT 1")?;
        Ok(())
    })?;
    println!("pooled session, simple query     {pooled}");
    println!("pooled session, extended query   {prepared}");
    println!("fresh session (connect + query)  {fresh}");
    Ok(())
}

struct Figure {
    p50: Duration,
    p99: Duration,
    n: usize,
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>7.1} µs  p99 {:>7.1} µs  (n = {})",
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.n
        )
    }
}

fn measure(
    n: usize,
    mut op: impl FnMut() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<Figure, Box<dyn std::error::Error>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        op()?;
        samples.push(start.elapsed());
    }
    samples.sort();
    let rank = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    Ok(Figure {
        p50: rank(0.50),
        p99: rank(0.99),
        n,
    })
}
