//! Dev-mode: module manifests drafted, published as versions, and rolled back.
//!
//! Life of a manifest: `POST /admin/dev/drafts` stores any JSON object as a draft (work in
//! progress need not be complete); `PUT` replaces it under `If-Match`; `POST
//! …/drafts/{id}/publish` validates it fully (422 listing every problem) and appends it as the
//! module's new current version, updating the module catalogue in the same transaction.
//!
//! Decisions, so clients can rely on them:
//! * A published draft is kept, read-only, in state `published` with the version it became
//!   (an audit trail of who-published-what); editing or publishing it again is 409, deleting it
//!   is allowed and leaves the version history untouched.
//! * Version numbers are per module, 1 for the first publish, +1 per publish or rollback,
//!   never reused; the highest version is current. Modules loaded from the catalogue file have
//!   no dev history until their first publish.
//! * Publishing keeps a module's enabled state; a module new to the catalogue starts
//!   **disabled**, so nothing routes to it before its credentials are set and an admin enables
//!   it (`POST /admin/modules/{id}/enable`); from then on routing may use it.
//! * Rollback to version N appends a copy of N's manifest as a new version whose
//!   `source_version` is N. An unknown module or version is 404; rolling back to the version
//!   that is already current, or to one whose manifest equals the current one, is 409 (it
//!   would change nothing, and a no-op version would only blur the history).
//! * For the same reason, publishing a draft whose manifest equals the module's current
//!   version is 409 `…/conflict`: no version is appended and the draft stays a draft.
//! * `If-Match`: required on `PUT` of a draft (428 without, 412 when stale, `*` opts out);
//!   honoured when present on draft `DELETE`, publish (the draft's ETag) and rollback (the
//!   module's current version ETag, as sent by the versions list).

//!
//! The rules above are the admin store's (`admin_store::dev`), enforced by every backend inside
//! its write transaction; this module is the HTTP side.

pub mod handlers;

pub use handlers::router;
