//! The admin database's schema: one ordered list, applied by `sqlite_kit::open`.
//!
//! A new migration is one appended entry with the next version number; never edit an entry
//! that has shipped (databases in the field already recorded its version).

use sqlite_kit::Migration;

/// Every schema step of `admin.db`, in order.
pub const MIGRATIONS: &[Migration] = &[
    // v1: module catalogue, encrypted credentials, versioned routing config, and a key/value
    // table for one-time bootstrap markers.
    Migration {
        version: 1,
        sql: "
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT;
        CREATE TABLE modules (
            id                   TEXT PRIMARY KEY,
            name                 TEXT NOT NULL,
            description          TEXT NOT NULL,
            required_credentials TEXT NOT NULL, -- JSON array of credential names
            enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
            updated_ms           INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE credentials (
            module_id  TEXT NOT NULL REFERENCES modules(id),
            name       TEXT NOT NULL,
            nonce      BLOB NOT NULL,           -- 24 random bytes, one per secret
            ciphertext BLOB NOT NULL,           -- XChaCha20-Poly1305, AAD = module_id/name
            updated_ms INTEGER NOT NULL,
            PRIMARY KEY (module_id, name)
        ) STRICT;
        CREATE TABLE routing_versions (
            version    INTEGER PRIMARY KEY,     -- 1, 2, 3, ...; the highest is current
            config     TEXT NOT NULL,           -- the routing config as JSON
            source     TEXT NOT NULL,           -- what made it: initial, put, patch, ...
            created_ms INTEGER NOT NULL
        ) STRICT;
        ",
    },
];
