//! Policy store benches (placeholder until written).
fn main() {}
