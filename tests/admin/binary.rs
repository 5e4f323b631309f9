//! The `admin-api` binary itself: `serve --help` documents every flag with its environment
//! variable, and its log never contains the token or a credential secret.

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
        ("--body-limit", "ADMIN_API_BODY_LIMIT"),
        ("--ready-requires-auth", "ADMIN_API_READY_REQUIRES_AUTH"),
        ("--log", "ADMIN_API_LOG"),
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
        assert!(
            help.contains(&format!("env: {env}")),
            "{env} missing from:\n{help}"
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

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &["--body-limit", "20000000"]);
    let client = server.client();
    // Warm the pooled connection so the big request is accepted before the signal lands.
    assert_eq!(client.get("/admin/modules").status, 200);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let batch: Vec<_> = (0..8000)
        .map(|i| {
            json!({"request_id": format!("inflight-{i}"), "intent": "bulk", "modules": ["a", "b"],
                "calls": ["a", "b"], "run_units": 1.0, "correct": i % 2 == 0,
                "latency_ms": 5.0, "timestamp_ms": now - 1000})
        })
        .collect();
    let body = serde_json::Value::Array(batch);
    let started = std::time::Instant::now();
    let request = std::thread::spawn(move || {
        let reply = client.post("/admin/otc/trajectories", &body);
        (reply, started.elapsed())
    });
    std::thread::sleep(std::time::Duration::from_millis(60));
    let pid = server.pid().expect("binary server");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let (reply, took) = request.join().expect("the request thread");
    eprintln!("in-flight request took {took:?}");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["accepted"], 8000);
    assert!(
        server.wait_exit_success(),
        "admin-api exits 0 after finishing the request"
    );
}
