//! The `postgres` step: the PostgreSQL test targets (every `[[test]]` of the workspace whose
//! `required-features` holds `postgres-tests`), built with that feature and run as one suite,
//! followed by the showroom with its stores in that database (steps named `on PostgreSQL: ...`),
//! when a server answers at `OTC_TEST_DATABASE_URL` (default: the local server).
//!
//! Reachability is a TCP connect (or a Unix socket connect) to the URL's host and port: xtask
//! depends on no database driver. A server that answers but refuses the tests (a wrong user,
//! a missing database) makes the suite fail, not skip. With no server, the gate prints one
//! `postgres: skipped, ...` line and goes on, unless `--require-postgres` makes that a
//! failure (CI passes it).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::build::{self, Workspace};
use super::process;
use super::suite::{self, RunOptions, SuiteResult};

/// The environment variable that names the test database.
pub const URL_VAR: &str = "OTC_TEST_DATABASE_URL";
/// The test database when [`URL_VAR`] is unset. The tests have the same default
/// (`postgres_kit::testing::DEFAULT_DATABASE_URL`; a test below keeps the two equal).
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The cargo feature that builds a package's PostgreSQL test targets.
pub const FEATURE: &str = "postgres-tests";
/// How long the reachability probe waits for each address.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a server should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A host name or address and a port.
    Tcp(String, u16),
    /// A Unix socket file (`<dir>/.s.PGSQL.<port>`).
    Socket(PathBuf),
}

/// The test database's URL: [`URL_VAR`] if set and not empty, else [`DEFAULT_URL`].
pub fn database_url() -> String {
    std::env::var(URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Where the server of `url` answers: the first host of a `postgres://` or `postgresql://`
/// URL, or of the `host=... port=...` form (as libpq reads them; no host means `localhost`,
/// a host starting with `/` is a socket directory; the port defaults to 5432).
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let (host, port) = match url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        Some(rest) => url_host_port(rest)?,
        None => keyword_host_port(url),
    };
    let host = host.split(',').next().unwrap_or_default().to_owned();
    let port = match port.split(',').next().unwrap_or_default() {
        "" => 5432,
        p => p
            .parse()
            .map_err(|_| format!("port {p:?} is not a number"))?,
    };
    Ok(if host.starts_with('/') {
        Endpoint::Socket(Path::new(&host).join(format!(".s.PGSQL.{port}")))
    } else if host.is_empty() {
        Endpoint::Tcp("localhost".to_owned(), port)
    } else {
        Endpoint::Tcp(host, port)
    })
}

/// Host and port of `user:pass@host:port/db?host=...&port=...` (query parameters win).
fn url_host_port(rest: &str) -> Result<(String, String), String> {
    let (authority, query) = match rest.find(['/', '?']) {
        Some(at) => (
            &rest[..at],
            rest[at..].split_once('?').map_or("", |(_, q)| q),
        ),
        None => (rest, ""),
    };
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // Of several hosts (`h1:5000,h2:6000`), the first.
    let hostport = hosts.split(',').next().unwrap_or_default();
    let (mut host, mut port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("an IPv6 host is missing its `]`")?;
        (addr.to_owned(), after.trim_start_matches(':').to_owned())
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.to_owned()),
            None => (hostport.to_owned(), String::new()),
        }
    };
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("host", v)) => host = percent_decode(v),
            Some(("port", v)) => port = v.to_owned(),
            _ => {}
        }
    }
    Ok((percent_decode(&host), port))
}

/// Host and port of the `key=value key=value` form (values unquoted).
fn keyword_host_port(conninfo: &str) -> (String, String) {
    let mut host = String::new();
    let mut port = String::new();
    for pair in conninfo.split_whitespace() {
        match pair.split_once('=') {
            Some(("host", v)) => host = v.to_owned(),
            Some(("port", v)) => port = v.to_owned(),
            _ => {}
        }
    }
    (host, port)
}

/// `%2F` and friends back to bytes (a socket directory is written `%2Fvar%2Frun%2Fpostgresql`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with its password replaced by `***`, for printing.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some((userinfo, host)) = rest[..end].rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}{}", &rest[end..]);
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_owned(),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether something accepts connections at `endpoint`; the error says why not.
pub fn probe(endpoint: &Endpoint) -> Result<(), String> {
    match endpoint {
        Endpoint::Tcp(host, port) => {
            let addrs: Vec<_> = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| format!("{host}: {e}"))?
                .collect();
            let mut last = format!("{host} resolves to no address");
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = format!("{addr}: {e}"),
                }
            }
            Err(last)
        }
        #[cfg(unix)]
        Endpoint::Socket(path) => std::os::unix::net::UnixStream::connect(path)
            .map(drop)
            .map_err(|e| format!("{}: {e}", path.display())),
        #[cfg(not(unix))]
        Endpoint::Socket(path) => Err(format!("{}: no Unix sockets here", path.display())),
    }
}

/// Runs the step: `None` when it was skipped (no server, not required; the line is printed),
/// else the suite's result.
pub fn step(
    root: &Path,
    ws: &Workspace,
    opts: &RunOptions,
    required: bool,
) -> Result<Option<SuiteResult>> {
    let start = Instant::now();
    let url = database_url();
    let reachable = endpoint(&url).and_then(|e| probe(&e));
    if let Err(why) = reachable {
        let missing = format!("no server at {} ({why})", redact(&url));
        if !required {
            println!("postgres: skipped, {missing}; set {URL_VAR} to test against one");
            return Ok(None);
        }
        let mut failed = SuiteResult::new("postgres");
        failed.check(
            "a PostgreSQL server answers (--require-postgres)",
            false,
            &format!("{missing}; start one or set {URL_VAR} (README: PostgreSQL tests)"),
        );
        return Ok(Some(failed));
    }
    let targets = feature_targets(root)?;
    if targets.is_empty() {
        println!("postgres: skipped, no test target requires feature `{FEATURE}`");
        return Ok(None);
    }
    let mut result = SuiteResult::new("postgres");
    let mut bins = Vec::new();
    for (package, tests) in &targets {
        let mut cmd = Command::new("cargo");
        cmd.args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--package", package, "--features", FEATURE])
        .args(tests.iter().flat_map(|t| ["--test", t.as_str()]))
        .current_dir(root);
        let done = process::run(cmd, Duration::from_secs(3600))?;
        if done.status.is_none_or(|s| !s.success()) {
            let detail = process::tail(&done.stderr, 60);
            result.check(
                &format!("build {package} --features {FEATURE}"),
                false,
                &detail,
            );
            continue;
        }
        bins.extend(build::test_binaries(&done.stdout, ws));
    }
    let bins: Vec<_> = bins.iter().filter(|b| b.kind == "test").collect();
    let mut parts = vec![suite::run_binaries("postgres", &bins, opts)?];
    // The real binary walked through every endpoint group with its stores in PostgreSQL.
    if ws.bins.iter().any(|(_, bin)| bin == super::showroom::BIN) {
        parts.push(super::showroom::run_on(
            root,
            &ws.target_dir,
            Duration::from_secs(600),
            Some(&url),
        )?);
    }
    for ran in parts {
        result.passed += ran.passed;
        result.failed += ran.failed;
        result.ignored += ran.ignored;
        result.failures.extend(ran.failures);
        result.cases.extend(ran.cases);
    }
    result.duration_s = start.elapsed().as_secs_f64();
    Ok(Some(result))
}

/// Test targets that require [`FEATURE`], by package, from `cargo metadata`.
fn feature_targets(root: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let out = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    Ok(targets_requiring(&meta, FEATURE))
}

fn targets_requiring(meta: &Value, feature: &str) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_test = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k == "test");
            let needs = target["required-features"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f == feature);
            if is_test && needs {
                found
                    .entry(package["name"].as_str().unwrap_or_default().to_owned())
                    .or_default()
                    .push(target["name"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Result<Endpoint, String> {
        Ok(Endpoint::Tcp(host.to_owned(), port))
    }

    #[test]
    fn urls_name_their_server() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                tcp("127.0.0.1", 5432),
            ),
            (
                "postgresql://u:p%40ss@db.example:6543/x?sslmode=disable",
                tcp("db.example", 6543),
            ),
            ("postgres://u@localhost/test", tcp("localhost", 5432)),
            ("postgres:///test", tcp("localhost", 5432)),
            ("postgres://u@[::1]:5433/test", tcp("::1", 5433)),
            ("postgres://u@h1:5000,h2:6000/test", tcp("h1", 5000)),
            ("postgres://u@h/test?port=7000", tcp("h", 7000)),
            (
                "postgres://u@%2Fvar%2Frun%2Fpostgresql/test",
                Ok(Endpoint::Socket("/var/run/postgresql/.s.PGSQL.5432".into())),
            ),
            (
                "postgres:///test?host=/tmp&port=5433",
                Ok(Endpoint::Socket("/tmp/.s.PGSQL.5433".into())),
            ),
            (
                "host=10.0.0.5 port=5444 user=postgres dbname=test",
                tcp("10.0.0.5", 5444),
            ),
            ("user=postgres dbname=test", tcp("localhost", 5432)),
        ];
        for (url, expected) in cases {
            assert_eq!(endpoint(url), expected, "{url}");
        }
        assert!(endpoint("postgres://u@h:port/test").is_err());
        assert!(endpoint("postgres://u@[::1/test").is_err());
    }

    #[test]
    fn printed_urls_hide_the_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact(DEFAULT_URL), DEFAULT_URL);
        assert_eq!(
            redact("host=h password=secret user=u"),
            "host=h password=*** user=u"
        );
    }

    #[test]
    fn the_probe_tells_a_closed_port_from_an_open_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(probe(&Endpoint::Tcp("127.0.0.1".into(), port)), Ok(()));
        drop(listener);
        let err = probe(&Endpoint::Tcp("127.0.0.1".into(), port)).unwrap_err();
        assert!(err.starts_with(&format!("127.0.0.1:{port}: ")), "{err}");
        let missing = Endpoint::Socket("/nonexistent/.s.PGSQL.5432".into());
        assert!(probe(&missing).is_err());
    }

    #[test]
    fn only_test_targets_that_require_the_feature_are_picked() {
        let meta = serde_json::json!({"packages": [
            {"name": "a", "targets": [
                {"name": "a", "kind": ["lib"], "required-features": []},
                {"name": "conformance", "kind": ["test"], "required-features": ["postgres-tests"]},
                {"name": "plain", "kind": ["test"], "required-features": []},
                {"name": "bench", "kind": ["bench"], "required-features": ["postgres-tests"]}
            ]},
            {"name": "b", "targets": [{"name": "b", "kind": ["lib"]}]}
        ]});
        let found = targets_requiring(&meta, FEATURE);
        assert_eq!(found.len(), 1);
        assert_eq!(found["a"], ["conformance"]);
    }

    #[test]
    fn the_default_url_is_the_tests_default() {
        // xtask depends on no product crate, so the two defaults are compared as text.
        let testing = include_str!("../../../crates/postgres-kit/src/testing.rs");
        assert!(
            testing.contains(&format!("DEFAULT_DATABASE_URL: &str = \"{DEFAULT_URL}\"")),
            "postgres-kit's testing default differs from xtask's"
        );
    }
}
