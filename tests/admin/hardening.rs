//! Hardening over the real binary: stalled clients cannot hold shutdown or a worker, a full
//! disk is a 503 that reads survive, first-start files are whole and owner-only, a lost key
//! with stored credentials is refused with the way out, and startup errors say what is wrong.

use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use suites::admin::{TEST_TOKEN, TestServer, admin_api_binary, temp_dir};

fn connect(server: &TestServer) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    TcpStream::connect(addr).unwrap()
}

fn sigterm(server: &TestServer) {
    Command::new("kill")
        .args(["-TERM", &server.pid().unwrap().to_string()])
        .status()
        .unwrap();
}

/// Regression (hardening review): a client holding half a header block, or headers and half a
/// body, kept SIGTERM from ever finishing (40 s and more).
#[test]
fn a_stalled_client_does_not_hold_shutdown() {
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &["--shutdown-timeout", "2"]);
    let mut half_headers = connect(&server);
    half_headers
        .write_all(b"GET /admin/modules HTTP/1.1\r\nHost: x\r\nAuthor")
        .unwrap();
    let mut half_body = connect(&server);
    half_body
        .write_all(
            format!(
                "POST /admin/otc/trajectories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"request_id\""
            )
            .as_bytes(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    sigterm(&server);
    assert!(server.wait_exit_success(), "exits 0");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "shutdown took {took:?}");
    drop((half_headers, half_body));
}

/// A request already being answered when SIGTERM arrives still gets its answer.
#[test]
fn in_flight_requests_finish_within_the_shutdown_bound() {
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &["--shutdown-timeout", "10"]);
    let mut slow = connect(&server);
    let body = json!({"request_id": "r", "intent": "i", "modules": ["m"], "calls": [],
        "run_units": 1.0, "correct": true, "latency_ms": 1.0, "timestamp_ms": 1_700_000_000_000_i64})
    .to_string();
    // Headers now, the body after the signal: the request is in flight during shutdown.
    slow.write_all(
        format!(
            "POST /admin/otc/trajectories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&server);
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(server.wait_exit_success());
}

#[test]
fn a_client_stalling_in_its_headers_is_cut_off_and_one_stalling_in_its_body_gets_408() {
    let dir = temp_dir();
    let server = TestServer::binary(
        dir.path(),
        &["--header-timeout", "1", "--request-timeout", "1"],
    );
    let mut headers = connect(&server);
    headers
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    headers
        .write_all(b"GET /admin/health HTTP/1.1\r\nHo")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = headers.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed by the header timeout"
    );
    let mut body = connect(&server);
    body.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    body.write_all(
        format!(
            "POST /admin/otc/trajectories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = body.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");
    // The server itself is fine.
    assert_eq!(server.client().get("/admin/health").status, 200);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Regression (hardening review): the databases were 0644 when the data directory already
/// existed with 0755.
#[cfg(unix)]
#[test]
fn every_file_the_server_writes_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = TestServer::binary_with_key_file(&data, &[]);
    // A write, so the WAL files exist too.
    let reply = server.client().put(
        "/admin/modules/web-search/credentials/api_key",
        &json!({"value": "sk-live-0123456789"}),
    );
    assert!(reply.status < 300, "{}", reply.body);
    let mut files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    server.stop();
}

fn start_fails(args: &[&str]) -> String {
    let out = Command::new(admin_api_binary())
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("ADMIN_API_TOKEN", TEST_TOKEN)
        .env_remove("ADMIN_API_SECRET_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// Regression (hardening review): a deleted key file silently made every credential
/// unreadable (a new key was created).
#[test]
fn a_lost_key_with_stored_credentials_is_refused_until_reset() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let key = data.join("secret.key").display().to_string();
    std::fs::create_dir(&data).unwrap();
    {
        let server = TestServer::binary_with_key_file(&data, &["--key-file", &key]);
        let reply = server.client().put(
            "/admin/modules/web-search/credentials/api_key",
            &json!({"value": "sk-live-0123456789"}),
        );
        assert!(reply.status < 300, "{}", reply.body);
        server.stop();
    }
    let data_arg = data.display().to_string();
    std::fs::remove_file(&key).unwrap();
    let stderr = start_fails(&["--data-dir", &data_arg, "--key-file", &key]);
    assert!(stderr.contains("is missing"), "{stderr}");
    assert!(stderr.contains("--reset-credentials"), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("admin-api: error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(!Path::new(&key).exists(), "no new key was created");
    // The explicit way out: credentials deleted, a new key written, the server starts.
    let out = Command::new(admin_api_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_arg])
        .args(["--key-file", &key, "--reset-credentials"])
        .env("ADMIN_API_TOKEN", TEST_TOKEN)
        .env_remove("ADMIN_API_SECRET_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = out;
    let mut first = [0u8; 24];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("admin-api listening"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 64);
}

#[test]
fn startup_errors_say_what_is_wrong() {
    let dir = temp_dir();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let stderr = start_fails(&["--data-dir", &file.display().to_string()]);
    assert!(stderr.contains("exists but is not a directory"), "{stderr}");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("admin-token"), b"").unwrap();
    let out = Command::new(admin_api_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("ADMIN_API_TOKEN")
        .env("ADMIN_API_SECRET_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("is empty; delete it"), "{stderr}");
}

/// A tmpfs mounted for the length of a test (the gate runs as root, as CI does).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it and needs root (the gate runs as root)"
        );
        Self(path.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Regression (hardening review): a full disk was a generic 500.
#[test]
fn a_full_disk_is_a_503_that_reads_survive() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let disk = SmallDisk::mount(&data, "8m");
    let server = TestServer::in_process(&data);
    let client = server.client();
    let ts = || suites::now_ms() - 1000;
    let event = |key: String| {
        json!({"tenant": "acme", "request_id": format!("r-{key}"), "module": "web-search",
            "tool": "search", "run_units": 1.0, "timestamp_ms": ts(), "idempotency_key": key})
    };
    assert_eq!(
        client
            .post("/admin/billing/meter", &event("ok".into()))
            .status,
        201
    );
    // Fill the disk.
    let filler = data.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    let mut full = None;
    for i in 0..200 {
        let reply = client.post("/admin/billing/meter", &event(format!("k{i}")));
        assert!(
            reply.status == 201 || reply.status == 503,
            "{} {}",
            reply.status,
            reply.body
        );
        if reply.status == 503 {
            full = Some(reply);
            break;
        }
    }
    let full = full.expect("a write fails once the disk is full");
    assert_eq!(
        full.json()["type"],
        "https://otc.example/problems/storage-unavailable"
    );
    assert_eq!(full.header("retry-after"), Some("60"));
    // Reads keep working; readiness says what is wrong.
    assert_eq!(client.get("/admin/modules").status, 200);
    assert_eq!(client.get("/admin/billing/usage?tenant=acme").status, 200);
    let ready = client.get("/admin/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(
        ready.json()["type"],
        "https://otc.example/problems/storage-unavailable"
    );
    // Space freed: writes and readiness come back.
    drop(file);
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        client
            .post("/admin/billing/meter", &event("after".into()))
            .status,
        201
    );
    assert_eq!(client.get("/admin/ready").status, 200);
    drop(server);
    drop(disk);
}
