//! Tidy suite: ordinary tests that keep the repository honest, so plain `cargo test` catches rot:
//! module docs, banned attributes, the layering rules of ARCHITECTURE.md, formatting, docs in
//! sync with the tree.

mod layering;
mod source;
