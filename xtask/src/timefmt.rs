//! RFC 3339 timestamps of the gate's reports (UTC, second precision).

use std::time::SystemTime;

/// Formats `t` as `YYYY-MM-DDTHH:MM:SSZ` (the Unix epoch for an instant jiff cannot hold).
pub fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn known_instants() {
        let at = |s| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_737_599), "2026-11-26T23:59:59Z");
        // Sub-second parts are cut, not rounded.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_795_737_599_999)),
            "2026-11-26T23:59:59Z"
        );
    }
}
