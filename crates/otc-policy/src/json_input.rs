//! Reading trajectories as users write them in JSON (HTTP bodies, `otc import` lines): which
//! member of an object is to blame when it does not deserialize. Pure: no I/O.

/// The member of a JSON trajectory object that makes deserializing it as `T` fail (wrong type,
/// unknown name), found by putting each member alone into a known-good trajectory and
/// deserializing that, so the answer follows `T`'s own serde rules. `None` when no single
/// member is to blame (a missing field). Meant for error reports: serde's own messages do not
/// say which field had the wrong type.
pub fn offending_member<T: serde::de::DeserializeOwned>(
    item: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    let good = serde_json::json!({
        "request_id": "r", "intent": "i", "modules": ["m"], "calls": [], "run_units": 0,
        "correct": true, "latency_ms": 0, "timestamp_ms": 0,
    });
    let serde_json::Value::Object(good) = good else {
        return None;
    };
    item.iter()
        .find(|(name, value)| {
            let mut probe = good.clone();
            probe.insert((*name).clone(), (*value).clone());
            T::deserialize(serde_json::Value::Object(probe)).is_err()
        })
        .map(|(name, _)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trajectory::Trajectory;

    fn sample_json() -> serde_json::Value {
        serde_json::json!({
            "request_id": "req-1", "intent": "search", "modules": ["web", "calc"],
            "calls": ["web"], "run_units": 3.5, "correct": true, "latency_ms": 120.0,
            "timestamp_ms": 1_700_000_000_000_i64,
        })
    }

    #[test]
    fn the_offending_member_is_found_by_its_own_serde_rules() {
        let item = |json: serde_json::Value| json.as_object().unwrap().clone();
        let base = sample_json();
        let with = |name: &str, value: serde_json::Value| {
            let mut t = base.clone();
            t[name] = value;
            item(t)
        };
        assert_eq!(offending_member::<Trajectory>(&item(base.clone())), None);
        for (name, value) in [
            ("correct", serde_json::json!("yes")),
            ("latency_ms", serde_json::json!("fast")),
            ("timestamp_ms", serde_json::json!(1.5)),
            ("calls", serde_json::json!("web")),
            ("extra", serde_json::json!(1)),
        ] {
            assert_eq!(
                offending_member::<Trajectory>(&with(name, value)).as_deref(),
                Some(name)
            );
        }
        let mut missing = item(base);
        missing.remove("intent");
        assert_eq!(offending_member::<Trajectory>(&missing), None);
    }
}
