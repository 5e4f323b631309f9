//! Contract suite: public contracts that must not drift between releases (the reward's range and
//! peak, the store schemas, the snapshot's JSON shape, API response shapes).

mod reward;
mod usage_schema;
mod policy_schema;
mod api_shapes;
