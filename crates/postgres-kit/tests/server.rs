//! postgres-kit against a real server (feature `postgres-tests`; `cargo xtask verify` runs it
//! when a server answers at `OTC_TEST_DATABASE_URL`): session settings, migrations, the pool,
//! error classes. Each test works in its own schema, dropped at the end.

use postgres_kit::testing::TestSchema;
use postgres_kit::{ErrorClass, KitError, Migration, Options, Pool, schema_version};
use std::time::Duration;

const V1: Migration = Migration {
    version: 1,
    sql: "CREATE TABLE a (x BIGINT PRIMARY KEY);",
};
const V2: Migration = Migration {
    version: 2,
    sql: "ALTER TABLE a ADD COLUMN y TEXT;",
};

fn open(schema: &TestSchema, migrations: &[Migration]) -> Result<Pool, KitError> {
    postgres_kit::open(&schema.options("postgres-kit-test"), migrations)
}

fn show(pool: &Pool, setting: &str) -> String {
    pool.get()
        .unwrap()
        .query_one(&format!("SHOW {setting}"), &[])
        .unwrap()
        .get(0)
}

#[test]
fn every_session_has_the_stated_settings() {
    let schema = TestSchema::new();
    let pool = open(&schema, &[V1]).unwrap();
    assert_eq!(show(&pool, "search_path"), schema.name());
    assert_eq!(show(&pool, "statement_timeout"), "30s");
    assert_eq!(show(&pool, "lock_timeout"), "10s");
    assert_eq!(show(&pool, "idle_in_transaction_session_timeout"), "1min");
    assert_eq!(
        show(&pool, "default_transaction_isolation"),
        "read committed"
    );
    assert_eq!(show(&pool, "application_name"), "postgres-kit-test");
    // Unqualified names are the store's own tables.
    let mut conn = pool.get().unwrap();
    conn.execute("INSERT INTO a (x) VALUES (1)", &[]).unwrap();
    let qualified = format!("SELECT count(*) FROM \"{}\".a", schema.name());
    assert_eq!(conn.query_one(&qualified, &[]).unwrap().get::<_, i64>(0), 1);
}

#[test]
fn an_older_schema_is_upgraded_in_place_and_a_newer_one_refused() {
    let schema = TestSchema::new();
    let pool = open(&schema, &[V1]).unwrap();
    pool.get()
        .unwrap()
        .execute("INSERT INTO a (x) VALUES (7)", &[])
        .unwrap();
    drop(pool);
    let pool = open(&schema, &[V1, V2]).unwrap();
    let mut conn = pool.get().unwrap();
    assert_eq!(schema_version(&mut *conn).unwrap(), 2);
    let row = conn.query_one("SELECT x, y FROM a", &[]).unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, Option<String>>(1)),
        (7, None)
    );
    drop(conn);
    let err = open(&schema, &[V1]).unwrap_err();
    match &err {
        KitError::NewerSchema {
            schema: name,
            found: 2,
            known: 1,
        } => assert_eq!(name, schema.name()),
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade the binary"), "{err}");
}

#[test]
fn a_failed_step_leaves_the_last_complete_version() {
    let schema = TestSchema::new();
    let broken = Migration {
        version: 2,
        sql: "ALTER TABLE a ADD COLUMN y TEXT; INSERT INTO missing VALUES (1);",
    };
    let err = open(&schema, &[V1, broken]).unwrap_err();
    assert!(matches!(err, KitError::Postgres(_)), "{err:?}");
    let pool = open(&schema, &[V1]).unwrap();
    let mut conn = pool.get().unwrap();
    assert_eq!(schema_version(&mut *conn).unwrap(), 1);
    // The failed step's first statement was rolled back with it.
    assert!(conn.query("SELECT y FROM a", &[]).is_err());
}

#[test]
fn stores_in_one_database_have_their_own_schemas_and_versions() {
    let (one, two) = (TestSchema::new(), TestSchema::new());
    let first = open(&one, &[V1, V2]).unwrap();
    let second = open(&two, &[V1]).unwrap();
    first
        .get()
        .unwrap()
        .execute("INSERT INTO a (x, y) VALUES (1, 'one')", &[])
        .unwrap();
    let mut conn = second.get().unwrap();
    assert_eq!(schema_version(&mut *conn).unwrap(), 1);
    let rows: i64 = conn
        .query_one("SELECT count(*) FROM a", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "the second store sees its own table");
}

#[test]
fn replicas_opening_at_once_migrate_once() {
    let schema = TestSchema::new();
    // Not idempotent: run twice, V1 or V2 would fail.
    let opened: Vec<Result<Pool, KitError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| open(&schema, &[V1, V2])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in &opened {
        assert!(result.is_ok(), "{result:?}");
    }
    let pool = opened.into_iter().next().unwrap().unwrap();
    let rows: i64 = pool
        .get()
        .unwrap()
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);
}

#[test]
fn the_pool_reuses_sessions_up_to_its_size() {
    let schema = TestSchema::new();
    let options = schema
        .options("postgres-kit-test")
        .pool_size(2)
        .acquire_timeout(Duration::from_millis(200));
    let pool = postgres_kit::open(&options, &[V1]).unwrap();
    let pid = |conn: &mut postgres::Client| -> i32 {
        conn.query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0)
    };
    let first = pid(&mut pool.get().unwrap());
    assert_eq!(
        pid(&mut pool.get().unwrap()),
        first,
        "an idle session is reused"
    );
    let held = (pool.get().unwrap(), pool.get().unwrap());
    assert_eq!(pool.open_sessions(), 2);
    let err = pool.get().unwrap_err();
    assert!(matches!(err, KitError::PoolExhausted(_, 2)), "{err:?}");
    drop(held);
    assert!(pool.get().is_ok(), "a returned session is lent again");
}

#[test]
fn a_session_the_server_closed_is_not_lent_again() {
    let schema = TestSchema::new();
    let pool = open(&schema, &[V1]).unwrap();
    let mut conn = pool.get().unwrap();
    let victim: i32 = conn
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let mut admin = pool.connect().unwrap();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&victim])
        .unwrap();
    // The driver learns of it at the next call, which fails; the session is then dropped.
    assert!(conn.query_one("SELECT 1", &[]).is_err());
    drop(conn);
    let mut fresh = pool.get().unwrap();
    let pid: i32 = fresh
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    assert_ne!(pid, victim);
    assert_eq!(pool.open_sessions(), 1);
}

/// Regression: the driver's session owns a tokio runtime, and tokio panics when a runtime is
/// dropped on an async worker thread; a store (and its pool) dropped with an application's
/// state at the end of an async `main` did exactly that.
#[test]
fn a_pool_with_idle_sessions_can_be_dropped_inside_an_async_runtime() {
    let schema = TestSchema::new();
    let pool = open(&schema, &[V1]).unwrap();
    drop((pool.get().unwrap(), pool.get().unwrap()));
    assert_eq!(pool.open_sessions(), 2);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move { drop(pool) });
}

#[test]
fn server_errors_fall_into_their_classes() {
    let schema = TestSchema::new();
    let pool = open(&schema, &[V1]).unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute("INSERT INTO a (x) VALUES (1)", &[]).unwrap();
    let dup = conn
        .execute("INSERT INTO a (x) VALUES (1)", &[])
        .unwrap_err();
    assert_eq!(ErrorClass::of(&dup), ErrorClass::UniqueViolation);
    assert_eq!(
        KitError::from(dup).class(),
        ErrorClass::UniqueViolation,
        "through KitError too"
    );
    let missing = conn.execute("SELECT * FROM missing", &[]).unwrap_err();
    assert_eq!(ErrorClass::of(&missing), ErrorClass::Other);
}

#[test]
fn an_unreachable_server_fails_fast_with_a_driver_error() {
    // Port 1 on loopback: nothing listens there.
    let options = Options::new("postgres://postgres@127.0.0.1:1/test", "s", "t").unwrap();
    let started = std::time::Instant::now();
    let err = postgres_kit::open(&options, &[V1]).unwrap_err();
    assert!(matches!(err, KitError::Postgres(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

const EVENTS: Migration = Migration {
    version: 1,
    sql: "CREATE TABLE events (id BIGINT NOT NULL, at_ms BIGINT NOT NULL,
              PRIMARY KEY (id, at_ms)) PARTITION BY RANGE (at_ms);",
};

#[test]
fn the_sql_and_rust_months_agree_and_partitions_hold_their_months() {
    use postgres_kit::partitions::{self, MonthPartitions};
    let schema = TestSchema::new();
    let pool = open(&schema, &[EVENTS]).unwrap();
    let mut conn = pool.get().unwrap();
    let months = MonthPartitions::default();
    // Month edges, leap days, the epoch, far years, and a spread of ordinary instants.
    let mut instants = vec![
        0,
        -1,
        1_764_547_200_000,
        1_764_547_199_999,
        951_782_400_000, // 2000-02-29
        4_102_444_800_000 - 1,
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        instants.push((x % 4_000_000_000_000) as i64);
    }
    for (id, &at) in instants.iter().enumerate() {
        months.ensure(&mut conn, "events", at).unwrap();
        conn.execute("INSERT INTO events VALUES ($1, $2)", &[&(id as i64), &at])
            .unwrap();
    }
    let listed = partitions::list(&mut *conn, "events").unwrap();
    for p in &listed {
        assert_eq!(
            partitions::month_start_ms(p.from_ms),
            Some(p.from_ms),
            "{p:?}"
        );
        assert_eq!(
            partitions::next_month_start_ms(p.from_ms),
            Some(p.to_ms),
            "{p:?}"
        );
    }
    for &at in &instants {
        let holder: Vec<_> = listed
            .iter()
            .filter(|p| p.from_ms <= at && at < p.to_ms)
            .collect();
        assert_eq!(holder.len(), 1, "{at}");
        assert_eq!(Some(holder[0].from_ms), partitions::month_start_ms(at));
        // Each row is in the partition Rust's month arithmetic names.
        let n: i64 = conn
            .query_one(
                &format!(
                    "SELECT count(*) FROM \"{}\" WHERE at_ms = $1",
                    holder[0].name
                ),
                &[&at],
            )
            .unwrap()
            .get(0);
        assert!(n >= 1);
    }
    // Dropping before a cut takes exactly the months that end by it, and their rows.
    let cut = 1_764_547_200_000;
    let dropped = partitions::drop_before(&mut *conn, "events", cut).unwrap();
    assert!(dropped.iter().all(|p| p.to_ms <= cut));
    let kept = partitions::list(&mut *conn, "events").unwrap();
    assert!(kept.iter().all(|p| p.to_ms > cut));
    assert_eq!(dropped.len() + kept.len(), listed.len());
    let left: i64 = conn
        .query_one("SELECT count(*) FROM events WHERE at_ms < $1", &[&cut])
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let expected = instants.iter().filter(|&&at| at >= cut).count() as i64;
    let all: i64 = conn
        .query_one("SELECT count(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(all, expected);
}

#[test]
fn writers_ensuring_one_month_at_once_make_one_partition() {
    use postgres_kit::partitions::{self, MonthPartitions};
    let schema = TestSchema::new();
    let pool = open(&schema, &[EVENTS]).unwrap();
    let options = schema.options("postgres-kit-test").pool_size(8);
    let pool8 = Pool::new(&options).unwrap();
    std::thread::scope(|s| {
        for t in 0..8i64 {
            let pool8 = &pool8;
            s.spawn(move || {
                // Each thread is its own process in effect: a cache of its own.
                let months = MonthPartitions::default();
                let mut conn = pool8.get().unwrap();
                months
                    .ensure(&mut conn, "events", 1_764_547_200_000 + t)
                    .unwrap();
                conn.execute(
                    "INSERT INTO events VALUES ($1, $2)",
                    &[&t, &(1_764_547_200_000 + t)],
                )
                .unwrap();
            });
        }
    });
    let mut conn = pool.get().unwrap();
    assert_eq!(partitions::list(&mut *conn, "events").unwrap().len(), 1);
    let n: i64 = conn
        .query_one("SELECT count(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 8);
    // A month with no partition refuses the row instead of hiding it somewhere.
    let err = conn
        .execute("INSERT INTO events VALUES (99, 0)", &[])
        .unwrap_err();
    let message = err.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("no partition")),
        "{message:?}"
    );
}
