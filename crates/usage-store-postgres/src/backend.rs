//! [`UsageBackend`] for [`PostgresUsageStore`]: input checked with the trait crate's rules
//! before any session is taken; each write is one transaction under its tenants' locks (after
//! the event log's partition for the month of recording is known to exist), each read one
//! statement or one snapshot.

use crate::{PostgresUsageStore, batch, query, write};
use usage_store::model::check_name;
use usage_store::{
    HistoryPage, HistoryQuery, MAX_BATCH_EVENTS, MeterEvent, MeterOutcome, Quota, RequestUsage,
    Usage, UsageBackend, UsageError,
};

impl UsageBackend for PostgresUsageStore {
    fn meter(&self, event: &MeterEvent) -> Result<MeterOutcome, UsageError> {
        let now = self.now_ms();
        let valid = event.validate(now, self.max_future_skew_ms)?;
        self.write_events(now, [event.tenant.as_str()], |tx| {
            write::meter_one(tx, &valid, now)
        })
    }

    fn meter_batch(&self, events: &[MeterEvent]) -> Result<Vec<MeterOutcome>, UsageError> {
        if events.len() > MAX_BATCH_EVENTS {
            return Err(UsageError::BatchTooLarge {
                len: events.len(),
                max: MAX_BATCH_EVENTS,
            });
        }
        let now = self.now_ms();
        let valid = events
            .iter()
            .map(|e| e.validate(now, self.max_future_skew_ms))
            .collect::<Result<Vec<_>, _>>()?;
        self.write_events(now, events.iter().map(|e| e.tenant.as_str()), |tx| {
            batch::meter_batch(tx, &valid, now)
        })
    }

    fn usage(&self, tenant: &str, at_ms: i64) -> Result<Usage, UsageError> {
        self.read(|tx| query::usage(tx, tenant, at_ms))
    }

    fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, UsageError> {
        self.read_one(|db| query::history(db, query))
    }

    fn request_usage(&self, request_id: &str) -> Result<Option<RequestUsage>, UsageError> {
        self.read_one(|db| query::request_usage(db, request_id))
    }

    fn set_quota(&self, tenant: &str, quota: &Quota) -> Result<(), UsageError> {
        check_name("tenant", tenant)?;
        let limit = quota.limit_micros()?;
        // Under the tenant's lock, so a quota change falls between two of its meterings,
        // never inside one's check and append.
        self.write([tenant], |tx| {
            write::store_quota(tx, tenant, quota, limit, self.now_ms())
        })
    }

    fn quota(&self, tenant: &str) -> Result<Option<Quota>, UsageError> {
        check_name("tenant", tenant)?;
        self.read_one(|db| Ok(write::load_quota(db, tenant)?.map(|(q, _)| q)))
    }

    fn delete_quota(&self, tenant: &str) -> Result<bool, UsageError> {
        check_name("tenant", tenant)?;
        self.write([tenant], |tx| {
            Ok(tx.execute("DELETE FROM quotas WHERE tenant = $1", &[&tenant])? > 0)
        })
    }

    fn check_ready(&self) -> Result<(), UsageError> {
        // One indexed read of the store's own schema: it proves the server answers, the
        // session's search_path reaches the store, and it needs no lock a writer holds.
        self.read_one(|db| {
            postgres_kit::schema_version(db).map_err(|e| crate::error::Fail(crate::error::kit(e)))
        })
        .map(drop)
    }
}
