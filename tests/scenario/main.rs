//! Scenario suite: multi-step stories across components, told over HTTP the way an operator and
//! the orchestrator would live them (a quota runs out mid-session; a bad module version is
//! published, routed to and rolled back; the policy learns, survives a restart and rebuilds).

mod bad_module_rollback;
mod policy_lifecycle;
mod quota_mid_session;
