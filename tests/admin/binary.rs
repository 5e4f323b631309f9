//! The `admin-api` binary itself: `serve --help` documents every flag with its environment
//! variable, its log never contains the token or a credential secret, and a startup error is
//! one line with each cause once and no backtrace.

use serde_json::json;
use suites::admin::{TEST_TOKEN, TestServer, admin_api_binary, temp_dir};

#[test]
fn serve_help_documents_every_flag_and_its_environment_variable() {
    let out = std::process::Command::new(admin_api_binary())
        .args(["serve", "--help"])
        .output()
        .expect("run admin-api serve --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, env) in [
        ("--listen", "ADMIN_API_LISTEN"),
        ("--data-dir", "ADMIN_API_DATA_DIR"),
        ("--token", "ADMIN_API_TOKEN"),
        ("--token-file", "ADMIN_API_TOKEN_FILE"),
        ("--secret-key", "ADMIN_API_SECRET_KEY"),
        ("--key-file", "ADMIN_API_KEY_FILE"),
        ("--modules-file", "ADMIN_API_MODULES_FILE"),
        ("--routing-file", "ADMIN_API_ROUTING_FILE"),
        ("--policy-config", "ADMIN_API_POLICY_CONFIG"),
        ("--reset-credentials", "ADMIN_API_RESET_CREDENTIALS"),
        ("--body-limit", "ADMIN_API_BODY_LIMIT"),
        ("--header-timeout", "ADMIN_API_HEADER_TIMEOUT"),
        ("--request-timeout", "ADMIN_API_REQUEST_TIMEOUT"),
        ("--shutdown-timeout", "ADMIN_API_SHUTDOWN_TIMEOUT"),
        ("--ready-requires-auth", "ADMIN_API_READY_REQUIRES_AUTH"),
        ("--log", "ADMIN_API_LOG"),
    ] {
        // The flag's own help line (`--token` is a prefix of `--token-file`, so a substring
        // search could not fail), and on it the variable exactly: `[env: NAME]` when unset,
        // `[env: NAME=]` otherwise.
        // Clap prints the description on the flag's line or, when descriptions are long, on
        // the lines below it: take the flag's block, up to the next flag.
        let lines: Vec<&str> = help.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some(flag))
            .unwrap_or_else(|| panic!("no help line for {flag}:\n{help}"));
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('-'))
            .map_or(lines.len(), |i| start + 1 + i);
        let line = lines[start..end].join(" ");
        assert!(
            line.contains(&format!("[env: {env}]")) || line.contains(&format!("[env: {env}=")),
            "{env} missing from the {flag} line: {line}"
        );
    }
    assert!(help.contains("127.0.0.1:8080"), "loopback default:\n{help}");
}

#[test]
fn the_log_never_holds_the_token_or_a_secret() {
    let dir = temp_dir();
    let logs = temp_dir();
    let log_file = logs.path().join("admin-api.log");
    let server = TestServer::binary_logging(
        dir.path(),
        &[],
        "trace,hyper=trace,tower_http=trace",
        Some(&log_file),
    );
    let client = server.client();
    let secret = "log-me-if-you-dare-0123456789";
    let path = "/admin/modules/web-search/credentials/api_key";
    assert_eq!(client.put(path, &json!({"value": secret})).status, 200);
    // A malformed credential body, and a wrong token, must not leak either.
    client.put(path, &json!({"value": [secret]}));
    client
        .with_token(Some("wrong-token-wrong-token"))
        .get("/admin/modules");
    assert_eq!(client.get(path.trim_end_matches("/api_key")).status, 200);
    server.stop();
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        log.contains("/admin/modules/web-search/credentials"),
        "requests are traced:\n{log}"
    );
    assert!(!log.contains(secret), "the secret is in the log");
    assert!(!log.contains(TEST_TOKEN), "the token is in the log");
    assert!(
        !log.contains("wrong-token-wrong-token"),
        "a presented token is in the log"
    );
}

/// The request is written by hand on a raw socket so that it is provably in flight when the
/// signal lands: headers and half the body before `SIGTERM`, the rest after. (A pooled client
/// raced the signal: had the request not reached the server yet, graceful shutdown rightly
/// closed the idle connection and the client's retry was refused.)
#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::{Read, Write};
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &["--body-limit", "20000000"]);
    let now = suites::now_ms();
    let batch: Vec<_> = (0..8000)
        .map(|i| {
            json!({"request_id": format!("inflight-{i}"), "intent": "bulk", "modules": ["a", "b"],
                "calls": ["a", "b"], "run_units": 1.0, "correct": i % 2 == 0,
                "latency_ms": 5.0, "timestamp_ms": now - 1000})
        })
        .collect();
    let body = serde_json::Value::Array(batch).to_string();
    let address = server.url("");
    let mut socket = std::net::TcpStream::connect(address.trim_start_matches("http://"))
        .expect("connect to admin-api");
    let head = format!(
        "POST /admin/otc/trajectories HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    socket.write_all(head.as_bytes()).unwrap();
    socket.write_all(first).unwrap();
    // The server parses the headers as soon as they arrive; give an idle machine ample time.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = server.pid().expect("binary server");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    socket.write_all(rest).unwrap();
    let mut reply = String::new();
    socket.read_to_string(&mut reply).expect("read the reply");
    let status_line = reply.lines().next().unwrap_or_default();
    assert!(status_line.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"accepted\":8000"), "{reply}");
    assert!(
        server.wait_exit_success(),
        "admin-api exits 0 after finishing the request"
    );
}

/// Runs `admin-api serve` with `args` and `RUST_BACKTRACE=1`, expecting it to fail at startup;
/// returns its stderr.
fn failed_start(dir: &std::path::Path, args: &[&str], token: &str) -> String {
    let out = std::process::Command::new(admin_api_binary())
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("ADMIN_API_TOKEN", token)
        .env("ADMIN_API_SECRET_KEY", suites::admin::TEST_KEY)
        .env("ADMIN_API_LOG", "warn")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run admin-api serve");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("admin-api: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    for noise in ["backtrace", "Caused by", "Error: "] {
        assert!(!stderr.contains(noise), "{noise:?} in:\n{stderr}");
    }
    errors[0].to_owned()
}

/// Regression: startup errors printed anyhow's multi-line form with a 30-frame backtrace under
/// `RUST_BACKTRACE=1`, and a file error printed its cause twice.
#[test]
fn a_startup_error_is_one_line_with_each_cause_once() {
    let dir = temp_dir();
    assert_eq!(
        failed_start(dir.path(), &[], "short"),
        "admin-api: error: starting admin-api: the bearer token must be at least 16 characters"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let below_a_file = file.join("data");
    let line = failed_start(&below_a_file, &[], TEST_TOKEN);
    assert_eq!(
        line,
        format!(
            "admin-api: error: starting admin-api: {}: Not a directory (os error 20)",
            below_a_file.display()
        )
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let line = failed_start(&dir.path().join("data"), &["--listen", &addr], TEST_TOKEN);
    assert!(
        line.starts_with(&format!("admin-api: error: binding {addr}: ")),
        "{line}"
    );
    assert_eq!(line.matches("in use").count(), 1, "{line}");
}
