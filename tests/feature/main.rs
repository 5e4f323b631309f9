//! Feature suite: what a user can do, end to end through the libraries.
mod policy_learning;
