//! The admin store's PostgreSQL schema: one ordered list, applied by `postgres_kit::open`
//! in the store's own PostgreSQL schema (namespace).
//!
//! A new migration is one appended entry with the next version number; never edit an entry
//! that has shipped (databases in the field already recorded its version). The tables are
//! those of the SQLite backend (`admin-store-sqlite/src/schema.rs`), in PostgreSQL's types.

use postgres_kit::Migration;

/// Every schema step of the admin store, in order.
pub const MIGRATIONS: &[Migration] = &[
    // v1: the module catalogue, sealed credentials, the versioned routing config, dev-mode
    // drafts and module versions, a key/value table for one-time markers, and the table whose
    // lock serializes writers (see `lib.rs`). JSON columns are TEXT: the store keeps exactly
    // what the trait crate serialized, and every rule compares decoded values.
    Migration {
        version: 1,
        sql: "
        CREATE TABLE write_lock ();  -- never holds a row: LOCK TABLE on it orders the writers
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE modules (
            id                   TEXT PRIMARY KEY,
            name                 TEXT NOT NULL,
            description          TEXT NOT NULL,
            required_credentials TEXT NOT NULL,    -- JSON array of credential names
            enabled              BOOLEAN NOT NULL,
            updated_ms           BIGINT NOT NULL
        );
        CREATE TABLE credentials (
            module_id  TEXT NOT NULL REFERENCES modules(id),
            name       TEXT NOT NULL,
            nonce      BYTEA NOT NULL,             -- 24 random bytes, one per secret
            ciphertext BYTEA NOT NULL,             -- XChaCha20-Poly1305, AAD = module_id/name
            updated_ms BIGINT NOT NULL,
            PRIMARY KEY (module_id, name)
        );
        CREATE TABLE routing_versions (
            version    BIGINT PRIMARY KEY,         -- 1, 2, 3, ...; the highest is current
            config     TEXT NOT NULL,              -- the routing config as JSON
            source     TEXT NOT NULL,              -- what made it: initial, put, patch, ...
            created_ms BIGINT NOT NULL
        );
        CREATE TABLE module_drafts (
            id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never reused
            revision          BIGINT NOT NULL,     -- 1, 2, ...; the ETag
            manifest          TEXT NOT NULL,       -- any JSON object, validated at publish
            published_version BIGINT,              -- set once published: read-only from then on
            created_ms        BIGINT NOT NULL,
            updated_ms        BIGINT NOT NULL
        );
        CREATE TABLE module_versions (
            module_id      TEXT NOT NULL REFERENCES modules(id),
            version        BIGINT NOT NULL,        -- 1, 2, ... per module; never reused
            manifest       TEXT NOT NULL,          -- the validated manifest as JSON
            source         TEXT NOT NULL CHECK (source IN ('publish', 'rollback')),
            source_version BIGINT,                 -- rollback: the version it copies
            draft_id       BIGINT,                 -- publish: the draft (may be deleted since)
            created_ms     BIGINT NOT NULL,
            PRIMARY KEY (module_id, version)
        );
        ",
    },
];
