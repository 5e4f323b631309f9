//! Files the server writes itself: created atomically (a temporary file, fsync, then linked into
//! place only if the name is still free, then the directory fsynced) and owner-only (0600)
//! whatever the umask; database files made owner-only before SQLite opens them (SQLite gives
//! its `-wal` and `-shm` files the database file's mode); and the data directory checked.
//!
//! Regression: the token, key and default files were created and then written, so a kill in
//! between left an empty or truncated file that failed every later start.

use crate::start_error::StartError;
use std::io::Write;
use std::path::{Path, PathBuf};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        path: path.to_owned(),
        source,
    }
}

fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// A temporary name beside `path`, unique to this process and moment.
fn temporary(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    path.with_file_name(name)
}

fn sync_dir(path: &Path) {
    // Makes the new directory entry durable; a failure here loses nothing already written
    // (the file's data is synced), so it is not an error.
    if let Some(Ok(dir)) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(std::fs::File::open)
    {
        let _ = dir.sync_all();
    }
}

/// Writes `contents` to `path`, owner-only, all or nothing. Returns `false` without touching
/// `path` when it already exists, `true` when this call created it.
pub fn create_private(path: &Path, contents: &[u8]) -> Result<bool, StartError> {
    if path.exists() {
        return Ok(false);
    }
    let temp = temporary(path);
    let written = (|| {
        let mut file = private_options().open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_err(path)(err));
    }
    // A hard link creates the name only if it is free: a concurrent start that got there
    // first keeps its file, and nobody ever sees a partial one.
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok(true)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(io_err(path)(err)),
    }
}

/// Replaces `path` with `contents`, owner-only, all or nothing (a rename over the old file).
pub fn replace_private(path: &Path, contents: &[u8]) -> Result<(), StartError> {
    let temp = temporary(path);
    let written = (|| {
        let mut file = private_options().open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_err(path)(err));
    }
    sync_dir(path);
    Ok(())
}

/// Reads a secret file the server created (token, key), refusing an empty one with the repair.
pub fn read_secret(path: &Path, what: &str) -> Result<String, StartError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(StartError::Config(format!(
            "the {what} file {} is empty; delete it to have a new one created, or write the \
             {what} into it",
            path.display()
        )));
    }
    Ok(text)
}

/// Makes a database file owner-only before SQLite opens it: creates it empty with mode 0600
/// when missing (SQLite takes an empty file as a new database), and tightens an existing one.
pub fn private_database(path: &Path) -> Result<(), StartError> {
    match private_options().open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => tighten(path),
        Err(err) => Err(io_err(path)(err)),
    }
}

/// Sets an existing file the server owns to 0600 if group or others may read it, and says so.
#[cfg(unix)]
fn tighten(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(io_err(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path))?;
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "made owner-only (0600)");
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_: &Path) -> Result<(), StartError> {
    Ok(())
}

/// Creates the data directory (owner-only) unless it exists; refuses a path that is not a
/// directory with a sentence that says so, and warns when group or others may list it.
pub fn data_dir(path: &Path) -> Result<(), StartError> {
    if path.exists() && !path.is_dir() {
        return Err(StartError::Config(format!(
            "the data directory {} exists but is not a directory",
            path.display()
        )));
    }
    if !path.is_dir() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(path).map_err(io_err(path))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(io_err(path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory may be read by group or others; its files are owner-only, \
                 but consider chmod 700"
            );
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_private_file_is_whole_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert!(create_private(&path, b"first").unwrap());
        assert!(!create_private(&path, b"second").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(mode(&path), 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        replace_private(&path, b"third").unwrap();
        assert_eq!(
            (std::fs::read(&path).unwrap(), mode(&path)),
            (b"third".to_vec(), 0o600)
        );
    }

    #[test]
    fn database_files_become_owner_only_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        private_database(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o600);
        let loose = dir.path().join("loose.db");
        std::fs::write(&loose, b"").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_database(&loose).unwrap();
        assert_eq!(mode(&loose), 0o600);
    }

    #[test]
    fn an_empty_secret_file_names_the_repair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin-token");
        std::fs::write(&path, b"\n").unwrap();
        let err = read_secret(&path, "token").unwrap_err().to_string();
        assert!(err.contains("is empty; delete it"), "{err}");
    }

    #[test]
    fn a_data_directory_that_is_a_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, b"").unwrap();
        let err = data_dir(&path).unwrap_err().to_string();
        assert!(err.contains("exists but is not a directory"), "{err}");
    }
}
