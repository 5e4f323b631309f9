//! Feature suite: what a user can do, end to end through the libraries.
mod closed_loop;
mod offline_evaluation;
mod policy_learning;
