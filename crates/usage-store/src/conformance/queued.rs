//! Queued metering ([`crate::UsageBackend::meter_queued`]): events queued several at a time, so
//! that they can share the backend's commits, give exactly what metering them one by one
//! gives under the documented rules, and queued and blocking metering on two handles mix
//! freely. A backend without a queued path answers `None` for every event, and the check then
//! meters through `meter` alone.

use super::Opener;
use super::model::{Model, agrees_on_sums, event, runner, seen};
use crate::model::MeterEvent;
use proptest::prelude::*;
use std::cell::Cell;

/// Cases run (each with a tenant of its own on the one storage the check is given).
const CASES: u32 = 16;

/// Random events of one tenant with a random quota, cut into waves that alternate between
/// queueing every event of the wave before awaiting any (on one handle) and metering them with
/// `meter` (on another): every outcome, refusals in full, agrees with the model, and so do
/// usage and history afterwards. A queued event that is invalid fails at once and records
/// nothing.
pub fn queued_events_meter_as_events_one_by_one(open: &Opener) {
    let queueing = open();
    let blocking = open();
    let case = Cell::new(0u32);
    let queued_path = Cell::new(None::<bool>);
    let mut runner = runner(CASES);
    let strategy = (
        prop::collection::vec((0u8..12, 0usize..5, -48i64..48, 0u8..3), 1..60),
        prop::collection::vec(1usize..12, 1..8),
        (0i64..60, any::<bool>(), any::<bool>()),
    );
    let result = runner.run(&strategy, |(ops, waves, quota)| {
        case.set(case.get() + 1);
        let tenant = format!("queued-{}", case.get());
        let mut model = Model::with_quota(&*queueing, &tenant, quota);
        let events: Vec<MeterEvent> = ops.into_iter().map(|op| event(&tenant, op)).collect();
        let mut rest = &events[..];
        for (wave, size) in waves.iter().cycle().enumerate() {
            if rest.is_empty() {
                break;
            }
            let (now, after) = rest.split_at((*size).min(rest.len()));
            rest = after;
            if wave % 2 == 1 {
                for e in now {
                    prop_assert_eq!(seen(blocking.meter(e)), model.meter(e), "event {:?}", e);
                }
                continue;
            }
            let queued: Vec<_> = now.iter().map(|e| queueing.meter_queued(e)).collect();
            let has_path = queued[0].is_some();
            prop_assert!(
                queued.iter().all(|q| q.is_some() == has_path)
                    && *queued_path.get().get_or_insert(has_path) == has_path,
                "a backend queues every event or none"
            );
            for (e, queued) in now.iter().zip(queued) {
                let got = match queued {
                    Some(queued) => pollster::block_on(queued),
                    None => queueing.meter(e),
                };
                prop_assert_eq!(seen(got), model.meter(e), "event {:?}", e);
            }
        }
        agrees_on_sums(&*blocking, &tenant, &model)?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("queued metering disagrees with the model: {e}");
    }

    let mut invalid = event("queued-invalid", (0, 0, 0, 0));
    invalid.run_units = f64::NAN;
    invalid.request_id = "req-queued-invalid".into();
    if let Some(queued) = queueing.meter_queued(&invalid) {
        let err = pollster::block_on(queued).expect_err("NaN run-units are refused");
        assert!(
            matches!(err, crate::UsageError::InvalidInput { .. }),
            "{err:?}"
        );
    }
    assert_eq!(
        blocking.request_total(&invalid.request_id).unwrap(),
        None,
        "nothing recorded"
    );
}
