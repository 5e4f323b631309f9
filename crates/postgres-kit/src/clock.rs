//! A store's clock: the wall clock, or one a test sets, so the write paths (which month a row
//! is logged in) and retention can be tested across months without waiting for them.

use std::fmt;
use std::sync::Arc;

/// Unix milliseconds now, from the system or from a function given by a test.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> i64 + Send + Sync>>);

impl Clock {
    /// A clock that reads `now` instead of the system's time.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(now)))
    }

    /// The current time in Unix ms.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(now) => now(),
            None => jiff::Timestamp::now().as_millisecond(),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(set)"
        } else {
            "Clock(system)"
        })
    }
}
