//! Scenario suite: multi-step stories across components (quota, drafts, routing, policy).
