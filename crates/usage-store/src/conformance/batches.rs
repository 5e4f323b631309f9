//! Model-based check of batches: random events of two tenants, split into random batches, give
//! exactly what metering them one by one gives under the documented rules, a batch being all
//! or nothing (the first refusal in input order fails it and records none of its events).

use super::Opener;
use super::model::{Model, Seen, agrees_on_sums, event, runner, seen};
use crate::model::MeterOutcome;
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::HashMap;

/// Cases run (each with tenants of its own on the one storage the check is given).
const CASES: u32 = 16;

/// A batch's outcomes agree with the model event by event (a duplicate names the event id its
/// key was first recorded with, in an earlier batch or earlier in the same one; new events' ids
/// rise in input order); a batch the model refuses fails with the first refusal and records
/// nothing; afterwards usage and history agree with the model's sums.
pub fn a_batch_meters_as_its_events_one_by_one(open: &Opener) {
    let store = open();
    let case = Cell::new(0u32);
    let mut runner = runner(CASES);
    let quota = (0i64..60, any::<bool>(), any::<bool>());
    let strategy = (
        prop::collection::vec(
            (any::<bool>(), (0u8..12, 0usize..5, -48i64..48, 0u8..3)),
            1..80,
        ),
        prop::collection::vec(1usize..16, 1..12),
        quota.clone(),
        quota,
    );
    let result = runner.run(&strategy, |(ops, sizes, quota_a, quota_b)| {
        case.set(case.get() + 1);
        let mut tenants = Vec::new();
        for (name, quota) in [("a", quota_a), ("b", quota_b)] {
            let tenant = format!("batch-{}-{name}", case.get());
            let model = Model::with_quota(&*store, &tenant, quota);
            tenants.push((tenant, model));
        }
        let events: Vec<(usize, _)> = ops
            .into_iter()
            .map(|(second, op)| {
                let t = usize::from(second);
                (t, event(&tenants[t].0, op))
            })
            .collect();

        let mut ids: HashMap<(usize, String), i64> = HashMap::new();
        let mut rest = &events[..];
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, after) = rest.split_at((*size).min(rest.len()));
            rest = after;
            let mut trial: Vec<Model> = tenants.iter().map(|(_, m)| m.clone()).collect();
            let expected: Vec<Seen> = batch.iter().map(|(t, e)| trial[*t].meter(e)).collect();
            let refusal = expected.iter().find(|s| s.refuses()).cloned();
            let sent: Vec<_> = batch.iter().map(|(_, e)| e.clone()).collect();
            match store.meter_batch(&sent) {
                Ok(outcomes) => {
                    prop_assert_eq!(refusal, None, "the batch should have failed: {:?}", sent);
                    prop_assert_eq!(outcomes.len(), batch.len(), "an outcome per event");
                    for ((_, model), after) in tenants.iter_mut().zip(trial) {
                        *model = after;
                    }
                    let mut last_new = None;
                    for (((t, e), want), got) in batch.iter().zip(&expected).zip(&outcomes) {
                        prop_assert_eq!(&seen(Ok(got.clone())), want, "event {:?}", e);
                        let key = (*t, e.idempotency_key.clone());
                        match got {
                            MeterOutcome::Recorded { event_id, .. } => {
                                prop_assert!(
                                    last_new < Some(*event_id),
                                    "ids rise: {:?}",
                                    outcomes
                                );
                                last_new = Some(*event_id);
                                ids.insert(key, *event_id);
                            }
                            MeterOutcome::Duplicate { event_id } => {
                                prop_assert_eq!(Some(event_id), ids.get(&key), "event {:?}", e);
                            }
                        }
                    }
                }
                Err(err) => prop_assert_eq!(Some(seen(Err(err))), refusal, "batch {:?}", sent),
            }
        }
        for (tenant, model) in &tenants {
            agrees_on_sums(&*store, tenant, model)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("batches disagree with the model: {e}");
    }
}
