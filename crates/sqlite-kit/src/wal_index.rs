//! The WAL-index header, read straight from a connection's own mapping of the `-shm` file: the
//! one place in this workspace that uses `unsafe` (checked by tidy).
//!
//! In WAL mode every connection to a file, in any process, shares the WAL index, a memory
//! mapping of the `-shm` file. Its first 96 bytes are two copies of a 48-byte header that the
//! committing connection rewrites, under the write lock and before `COMMIT` returns, with every
//! commit: the frame count and the running checksum of the last frame change, and a WAL that
//! starts over gets new salts ([`walformat.html`], "The WAL-Index Header"). `PRAGMA
//! data_version` is computed from the same header, at the start of a read transaction; reading
//! the header directly costs a few loads instead of a transaction (tens of nanoseconds against
//! about a microsecond), with the same meaning: an unchanged header means nothing was committed
//! since. A change that commits nothing (a checkpoint that restarts the WAL, a recovery) may
//! change it too, which only costs a cache a re-read.
//!
//! The layout is SQLite's file format, not an implementation detail: connections of different
//! SQLite versions share one WAL index, so it cannot change without a new format number
//! (`iVersion`, checked here). The writer stores copy 2, then a memory barrier, then copy 1; a
//! reader loads copy 1, then (acquire) copy 2, and trusts them only when equal and their
//! checksum holds, as SQLite's own readers do. A header not (yet) initialised, or torn three
//! times running, gives none, and the caller falls back to `data_version`.
//!
//! One exception is SQLite's own, and `data_version` and SQLite's page cache share it: WAL
//! recovery rebuilds the header from the WAL's frames with the change counter at 0, so on an
//! empty WAL it writes the same header as a first opener does. A sequence that starts from
//! that header (a file just opened), commits, checkpoints the WAL empty (`TRUNCATE` or
//! `RESTART`), and then needs recovery (a checkpointer killed between writing the two copies)
//! with no check in between, returns to a header seen before (found in review, reproduced by
//! writing one copy by hand). This project's stores never run those checkpoint modes.
//!
//! The mapping is the connection's own (`xShmMap` of its file, region 0), so it lives as long
//! as the connection stays open in WAL mode: [`WalIndex`] keeps the connection alive, and no
//! connection can take a file out of WAL mode while another is open on it.
//!
//! [`walformat.html`]: https://www.sqlite.org/walformat.html
#![allow(unsafe_code)]

use rusqlite::{Connection, ffi};
use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Words (of 4 bytes) in one copy of the header.
pub(crate) const HEADER_WORDS: usize = 12;

/// One copy of the WAL-index header, as native-endian words.
pub(crate) type Header = [u32; HEADER_WORDS];

/// The region size SQLite maps the WAL index in (`WALINDEX_PGSZ`); a VFS expects every
/// mapping of one file to ask for the same size.
const REGION_BYTES: c_int = 32 * 1024;

/// The WAL-index format this layout is (`WALINDEX_MAX_VERSION`).
const FORMAT: u32 = 3_007_000;

/// Attempts at an untorn read before giving up for this call.
const ATTEMPTS: usize = 3;

/// Region 0 of one connection's WAL-index mapping.
#[derive(Debug)]
pub(crate) struct WalIndex {
    region: NonNull<AtomicU32>,
    /// The connection whose mapping `region` is: kept open as long as this is.
    _conn: Arc<Mutex<Connection>>,
}

// SAFETY: `region` points into a shared memory mapping that other threads and processes read
// and write concurrently by design; this type only ever loads from it, atomically, and the
// mapping lives as long as `_conn`, which it keeps alive.
unsafe impl Send for WalIndex {}
// SAFETY: as for `Send`: shared access is only atomic loads.
unsafe impl Sync for WalIndex {}

impl WalIndex {
    /// `conn`'s WAL-index mapping, if its file is in WAL mode and its VFS maps one (a VFS
    /// without shared memory, or one that refuses, gives none). `conn` must already have read
    /// the file once, so that its WAL index is open.
    pub(crate) fn of(conn: &Arc<Mutex<Connection>>) -> Option<Self> {
        let guard = conn.lock().ok()?;
        let mode: String = guard
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: the handle is live while the guard is held; `SQLITE_FCNTL_FILE_POINTER`
        // writes the main database's `sqlite3_file*` into `file` and nothing else.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                guard.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast::<c_void>(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return None;
        }
        // SAFETY: `file` is the connection's open file; its method table is SQLite's (or the
        // VFS's) static table; `xShmMap` exists from version 2 of it on.
        let map = unsafe {
            let methods = (*file).pMethods;
            if methods.is_null() || (*methods).iVersion < 2 {
                return None;
            }
            (*methods).xShmMap?
        };
        let mut region: *mut c_void = std::ptr::null_mut();
        // SAFETY: asks for region 0 at SQLite's own region size without extending the file
        // (`bExtend` 0): the VFS returns its existing mapping of this connection's WAL index,
        // which stays mapped until the connection closes.
        let rc = unsafe { map(file, 0, REGION_BYTES, 0, &raw mut region) };
        drop(guard);
        let region = NonNull::new(region.cast::<AtomicU32>())?;
        if rc != ffi::SQLITE_OK || !region.as_ptr().is_aligned() {
            return None;
        }
        Some(Self {
            region,
            _conn: Arc::clone(conn),
        })
    }

    /// The current header, if it could be read untorn and is initialised in the format this
    /// module knows.
    pub(crate) fn header(&self) -> Option<Header> {
        for _ in 0..ATTEMPTS {
            let first = self.copy(0);
            let second = self.copy(HEADER_WORDS);
            let initialised = first[3].to_ne_bytes()[0] != 0;
            if first == second && initialised && first[0] == FORMAT && checksum_holds(&first) {
                return Some(first);
            }
            std::hint::spin_loop();
        }
        None
    }

    /// Points the mapping at `words` instead (tests: a header SQLite never wrote).
    #[cfg(test)]
    pub(crate) fn at(words: &'static [AtomicU32], conn: &Arc<Mutex<Connection>>) -> Self {
        Self {
            region: NonNull::from(&words[0]),
            _conn: Arc::clone(conn),
        }
    }

    /// One copy of the header, starting at word `at`.
    fn copy(&self, at: usize) -> Header {
        std::array::from_fn(|i| {
            // SAFETY: words 0..24 lie in region 0 (32 KiB), which is mapped while `_conn` is
            // open; the pointer is aligned (checked in `of`).
            let word = unsafe { self.region.add(at + i).as_ref() };
            word.load(Ordering::Acquire)
        })
    }
}

/// Whether the header's last two words are SQLite's checksum of the ten before, as its own
/// readers check (`walIndexTryHdr`).
fn checksum_holds(header: &Header) -> bool {
    checksum(header) == header[HEADER_WORDS - 2..]
}

/// SQLite's checksum of the header's first ten words (`walChecksumBytes` in native byte
/// order: pairs of words added into two running sums).
fn checksum(header: &Header) -> [u32; 2] {
    let (mut s1, mut s2) = (0u32, 0u32);
    for pair in header[..HEADER_WORDS - 2].chunks_exact(2) {
        s1 = s1.wrapping_add(pair[0]).wrapping_add(s2);
        s2 = s2.wrapping_add(pair[1]).wrapping_add(s1);
    }
    [s1, s2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as SQLite writes it, read from a real file's mapping.
    fn real_header() -> Header {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open(&dir.path().join("h.db"), &[]).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let conn = Arc::new(Mutex::new(conn));
        WalIndex::of(&conn).unwrap().header().unwrap()
    }

    /// Both copies, leaked: a mapping that lives as long as the test needs.
    fn mapping(first: Header, second: Header) -> &'static [AtomicU32] {
        let words: Vec<AtomicU32> = first
            .into_iter()
            .chain(second)
            .map(AtomicU32::new)
            .collect();
        Box::leak(words.into_boxed_slice())
    }

    fn read(first: Header, second: Header) -> Option<Header> {
        let conn = Arc::new(Mutex::new(Connection::open_in_memory().unwrap()));
        WalIndex::at(mapping(first, second), &conn).header()
    }

    /// With the checksum recomputed, as a writer of that header would have.
    fn resealed(mut header: Header) -> Header {
        let sums = checksum(&header);
        header[HEADER_WORDS - 2..].copy_from_slice(&sums);
        header
    }

    #[test]
    fn only_a_header_sqlite_would_trust_is_read() {
        let good = real_header();
        assert!(checksum_holds(&good), "SQLite's own checksum: {good:?}");
        assert_eq!(read(good, good), Some(good));
        let mut changed = good;
        changed[2] = changed[2].wrapping_add(1);
        let changed = resealed(changed);
        assert_eq!(
            read(changed, changed),
            Some(changed),
            "another commit's header"
        );
        assert_eq!(read(good, changed), None, "torn: the copies differ");
        let mut bad_sum = good;
        bad_sum[HEADER_WORDS - 1] ^= 1;
        assert_eq!(read(bad_sum, bad_sum), None, "equal copies, wrong checksum");
        let mut uninitialised = good;
        uninitialised[3] &= u32::from_ne_bytes([0, 0xff, 0xff, 0xff]);
        let uninitialised = resealed(uninitialised);
        assert_eq!(read(uninitialised, uninitialised), None, "not initialised");
        let mut other_format = good;
        other_format[0] += 1;
        let other_format = resealed(other_format);
        assert_eq!(read(other_format, other_format), None, "another format");
    }
}
