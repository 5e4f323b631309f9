//! The admin database's schema (`admin.db`): one ordered list, applied by `sqlite_kit::open`.
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
    // v2: dev-mode. Drafts of module manifests (editable until published, then kept
    // read-only) and the append-only version history of each module's manifest; the highest
    // version is current and the `modules` row follows it.
    Migration {
        version: 2,
        sql: "
        CREATE TABLE module_drafts (
            id                INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
            revision          INTEGER NOT NULL,  -- 1, 2, ...; the ETag
            manifest          TEXT NOT NULL,     -- any JSON object, validated at publish
            published_version INTEGER,           -- set once published: read-only from then on
            created_ms        INTEGER NOT NULL,
            updated_ms        INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE module_versions (
            module_id      TEXT NOT NULL REFERENCES modules(id),
            version        INTEGER NOT NULL,     -- 1, 2, ... per module; never reused
            manifest       TEXT NOT NULL,        -- the validated manifest as JSON
            source         TEXT NOT NULL CHECK (source IN ('publish', 'rollback')),
            source_version INTEGER,              -- rollback: the version it copies
            draft_id       INTEGER,              -- publish: the draft (may be deleted since)
            created_ms     INTEGER NOT NULL,
            PRIMARY KEY (module_id, version)
        ) STRICT;
        ",
    },
];
