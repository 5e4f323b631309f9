//! Contract suite: public contracts that must not drift between releases (the reward's range and
//! peak, the store schemas, the snapshot's JSON shape, API response shapes).

mod api_shapes;
mod policy_schema;
mod reward;
mod usage_schema;
mod verify_snapshot;
