//! Integration suite: stores on real files: reopen after close, concurrency, crash safety.
