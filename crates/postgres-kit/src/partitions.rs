//! Monthly time partitions: the stores' big logs are PostgreSQL tables partitioned by
//! `RANGE` of a Unix-millisecond column, one partition per UTC calendar month, named
//! `<parent>_pYYYYMM`. Retention drops whole partitions (no `DELETE` of millions of rows, no
//! bloat left behind).
//!
//! Partitions are made by one SQL function, [`ENSURE_FUNCTION`], which `open` installs in every
//! store's schema before its migrations run, so a migration can call it in SQL and the store
//! calls it from Rust ([`MonthPartitions::ensure`]) with the same month arithmetic and names.
//! No default partition: a row whose month has no partition fails its statement instead of
//! landing somewhere retention cannot reach, and the stores ensure the month of every row they
//! write before writing it.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use postgres::GenericClient;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// `ensure_month_partition(parent, at_ms)`: creates, if missing, the partition of `parent`
/// holding the UTC month of `at_ms`, and returns its name. Concurrent callers (replicas, or
/// writers of different tenants) are serialized by a transaction-level advisory lock taken
/// only when the partition is missing, so the common case takes no lock. `CREATE TABLE ...
/// PARTITION OF` locks the parent until its transaction ends, so the stores call it as a
/// statement of its own, and create the coming month ahead ([`MonthPartitions::ensure_ahead`]).
pub const ENSURE_FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION ensure_month_partition(parent text, at_ms bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC');
    lo bigint := (extract(epoch FROM month_start) * 1000)::bigint;
    hi bigint := (extract(epoch FROM month_start + interval '1 month') * 1000)::bigint;
    name text := parent || '_p' || to_char(month_start, 'YYYYMM');
BEGIN
    -- Queries of the catalogue, not to_regclass: a query takes a fresh snapshot, so after the
    -- lock it sees a partition another session committed while this one waited.
    IF NOT EXISTS (SELECT 1 FROM pg_class
                   WHERE relname = name AND relnamespace = current_schema()::regnamespace) THEN
        PERFORM pg_advisory_xact_lock(
            hashtextextended('ensure_month_partition ' || current_schema() || '.' || parent, 0));
        IF NOT EXISTS (SELECT 1 FROM pg_class
                       WHERE relname = name AND relnamespace = current_schema()::regnamespace) THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)',
                           name, parent, lo, hi);
        END IF;
    END IF;
    RETURN name;
END $$;
"#;

/// The first millisecond of the UTC month holding `at_ms` (the same month as
/// [`ENSURE_FUNCTION`]'s), or `None` outside the years jiff represents.
pub fn month_start_ms(at_ms: i64) -> Option<i64> {
    let ts = jiff::Timestamp::from_millisecond(at_ms).ok()?;
    let date = ts.to_zoned(TimeZone::UTC).date();
    month_of(date)
}

/// The first millisecond of the UTC month after the one holding `at_ms`.
pub fn next_month_start_ms(at_ms: i64) -> Option<i64> {
    let ts = jiff::Timestamp::from_millisecond(at_ms).ok()?;
    let date = ts.to_zoned(TimeZone::UTC).date().first_of_month();
    month_of(date.checked_add(jiff::Span::new().months(1)).ok()?)
}

fn month_of(date: Date) -> Option<i64> {
    let first = date.first_of_month().to_zoned(TimeZone::UTC).ok()?;
    Some(first.timestamp().as_millisecond())
}

/// One partition of a partitioned table: rows with `from_ms <= column < to_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The partition's table name (in the store's schema).
    pub name: String,
    /// Its lower bound, included.
    pub from_ms: i64,
    /// Its upper bound, excluded.
    pub to_ms: i64,
}

/// The partitions of `parent` (in the session's schema), ordered by their lower bound. A
/// partition whose bound is not a plain `FROM (a) TO (b)` of integers (made by hand) is left
/// out: retention never touches what it does not understand.
pub fn list(
    client: &mut impl GenericClient,
    parent: &str,
) -> Result<Vec<Partition>, postgres::Error> {
    let rows = client.query(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid)
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = to_regclass(quote_ident($1))",
        &[&parent],
    )?;
    let mut partitions: Vec<Partition> = rows
        .iter()
        .filter_map(|row| {
            let (from_ms, to_ms) = parse_bound(row.get(1))?;
            Some(Partition {
                name: row.get(0),
                from_ms,
                to_ms,
            })
        })
        .collect();
    partitions.sort_by_key(|p| p.from_ms);
    Ok(partitions)
}

/// `FOR VALUES FROM ('a') TO ('b')` (as `pg_get_expr` prints a BIGINT range bound) as (a, b).
pub fn parse_bound(expr: &str) -> Option<(i64, i64)> {
    let rest = expr.strip_prefix("FOR VALUES FROM (")?;
    let (from, rest) = rest.split_once(") TO (")?;
    let to = rest.strip_suffix(')')?;
    let number = |s: &str| s.trim_matches('\'').parse::<i64>().ok();
    Some((number(from)?, number(to)?))
}

/// Drops every partition of `parent` whose rows all lie before `cut_ms` (`to_ms <= cut_ms`) and
/// returns them. Run it inside the transaction that also records what the dropped rows leave
/// behind, so both happen or neither.
pub fn drop_before(
    client: &mut impl GenericClient,
    parent: &str,
    cut_ms: i64,
) -> Result<Vec<Partition>, postgres::Error> {
    let old: Vec<Partition> = list(client, parent)?
        .into_iter()
        .filter(|p| p.to_ms <= cut_ms)
        .collect();
    for partition in &old {
        // The name came from the catalogue; quoting keeps it one identifier whatever it is.
        let quoted = partition.name.replace('"', "\"\"");
        client.batch_execute(&format!("DROP TABLE \"{quoted}\""))?;
    }
    Ok(old)
}

/// Which months of which tables this process already knows to have a partition, so the write
/// path asks the server only once per month and table.
#[derive(Debug, Default)]
pub struct MonthPartitions {
    known: Mutex<HashSet<(&'static str, i64)>>,
}

impl MonthPartitions {
    /// Makes sure `parent` has the partition of the month holding `at_ms`: a set lookup when
    /// this process made or saw it before, else one call of [`ENSURE_FUNCTION`] as a statement
    /// of its own (committed before this returns, so a write transaction that later rolls back
    /// cannot take the partition with it while this process goes on believing it exists).
    /// Call it on a session that is not inside a transaction, before the write that needs it.
    pub fn ensure(
        &self,
        client: &mut postgres::Client,
        parent: &'static str,
        at_ms: i64,
    ) -> Result<(), postgres::Error> {
        let month = month_start_ms(at_ms).unwrap_or(at_ms);
        if self.lock().contains(&(parent, month)) {
            return Ok(());
        }
        client.execute("SELECT ensure_month_partition($1, $2)", &[&parent, &at_ms])?;
        self.lock().insert((parent, month));
        Ok(())
    }

    /// Makes sure `parent` has the partitions of the month of `now_ms` and of the month after,
    /// so the write path seldom creates one (and takes the parent's lock) at the turn of a
    /// month. Called when a store opens.
    pub fn ensure_ahead(
        &self,
        client: &mut postgres::Client,
        parent: &'static str,
        now_ms: i64,
    ) -> Result<(), postgres::Error> {
        for at in [Some(now_ms), next_month_start_ms(now_ms)]
            .into_iter()
            .flatten()
        {
            self.ensure(client, parent, at)?;
        }
        Ok(())
    }

    /// Forgets every month known, e.g. after retention dropped some.
    pub fn forget(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(&'static str, i64)>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2025-12-01T00:00:00Z and the millisecond before.
        assert_eq!(month_start_ms(1_764_547_200_000), Some(1_764_547_200_000));
        assert_eq!(month_start_ms(1_764_547_199_999), Some(1_761_955_200_000));
        assert_eq!(
            next_month_start_ms(1_764_547_200_000),
            Some(1_767_225_600_000)
        );
        // February of a leap year.
        let feb_2024 = 1_706_745_600_000;
        assert_eq!(next_month_start_ms(feb_2024), Some(1_709_251_200_000));
        assert_eq!(month_start_ms(0), Some(0));
        assert_eq!(month_start_ms(-1), Some(-2_678_400_000));
    }

    #[test]
    fn bounds_parse_as_postgres_prints_them() {
        assert_eq!(
            parse_bound("FOR VALUES FROM ('1764547200000') TO ('1767225600000')"),
            Some((1_764_547_200_000, 1_767_225_600_000))
        );
        assert_eq!(
            parse_bound("FOR VALUES FROM ('-5') TO ('0')"),
            Some((-5, 0))
        );
        assert_eq!(parse_bound("FOR VALUES FROM (MINVALUE) TO ('0')"), None);
        assert_eq!(parse_bound("DEFAULT"), None);
        assert_eq!(parse_bound("FOR VALUES IN ('a')"), None);
    }
}
