//! Admin API servers for tests, on a free loopback port with a fresh data directory, and a
//! blocking HTTP client for them.
//!
//! Two flavours:
//! * [`TestServer::in_process`] runs `admin_api::app(state)` on a tokio runtime in a
//!   background thread, bound to `127.0.0.1:0`. Fast; most tests use it.
//! * [`TestServer::binary`] spawns the real `admin-api serve` binary. Cargo does not build a
//!   dependency package's binaries for this package's tests, so [`admin_api_binary`] finds it
//!   next to the running test executable (`target/<profile>/admin-api`) after building it
//!   once per test process with `cargo build -p admin-api --bin admin-api` (same profile as
//!   the tests); `ADMIN_API_BIN` overrides the path. The binary prints
//!   `admin-api listening on http://ADDR` on stdout, from which the port is read.
//!
//! Both stop gracefully: in-process through the shutdown future, the binary through SIGTERM
//! (then a wait). Dropping a server stops it too.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The bearer token every test server is started with.
pub const TEST_TOKEN: &str = "test-token-0123456789abcdef";

/// The credential key every test server is started with (64 hex characters).
pub const TEST_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

enum Kind {
    InProcess {
        server: Option<admin_api::server::Background>,
    },
    Binary {
        child: Child,
    },
}

/// A running admin API server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory it serves from.
    pub data_dir: PathBuf,
    kind: Kind,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("base", &self.base)
            .finish()
    }
}

/// The configuration test servers use: the given data dir, [`TEST_TOKEN`], [`TEST_KEY`].
pub fn test_config(data_dir: &Path) -> admin_api::ServerConfig {
    let mut config = admin_api::ServerConfig::for_data_dir(data_dir);
    config.token = Some(TEST_TOKEN.into());
    config.secret_key = Some(TEST_KEY.into());
    config
}

impl TestServer {
    /// Starts `app(state)` in this process with [`test_config`] for `data_dir`.
    pub fn in_process(data_dir: &Path) -> Self {
        Self::in_process_with(test_config(data_dir))
    }

    /// Starts `app(state)` in this process with `config` (its `listen` is ignored: port 0).
    pub fn in_process_with(config: admin_api::ServerConfig) -> Self {
        let state = admin_api::AppState::open(&config).expect("admin state opens");
        let listen = "127.0.0.1:0".parse().expect("loopback address");
        let server = admin_api::server::Background::spawn(state, listen, 2).expect("server starts");
        Self {
            base: format!("http://{}", server.addr()),
            data_dir: config.data_dir,
            kind: Kind::InProcess {
                server: Some(server),
            },
        }
    }

    /// Spawns the real `admin-api serve` on a free port with [`TEST_TOKEN`] and [`TEST_KEY`]
    /// in its environment, plus `extra_args`.
    pub fn binary(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::binary_logging(data_dir, extra_args, "warn", None)
    }

    /// Like [`TestServer::binary`], with the log filter `log` and the server's stderr (its
    /// log) written to `log_file` when given.
    pub fn binary_logging(
        data_dir: &Path,
        extra_args: &[&str],
        log: &str,
        log_file: Option<&Path>,
    ) -> Self {
        Self::spawn_binary(data_dir, extra_args, log, log_file, true)
    }

    /// Like [`TestServer::binary`] without [`TEST_KEY`] in the environment: the credential
    /// key comes from the key file (`--key-file`, or the data directory's).
    pub fn binary_with_key_file(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::spawn_binary(data_dir, extra_args, "warn", None, false)
    }

    fn spawn_binary(
        data_dir: &Path,
        extra_args: &[&str],
        log: &str,
        log_file: Option<&Path>,
        key_in_env: bool,
    ) -> Self {
        let stderr = match log_file {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("create the log file")),
            None => Stdio::inherit(),
        };
        let mut command = Command::new(admin_api_binary());
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .env("ADMIN_API_TOKEN", TEST_TOKEN)
            .env("ADMIN_API_LOG", log)
            .stdout(Stdio::piped())
            .stderr(stderr);
        if key_in_env {
            command.env("ADMIN_API_SECRET_KEY", TEST_KEY);
        } else {
            command.env_remove("ADMIN_API_SECRET_KEY");
        }
        let mut child = command.spawn().expect("spawn admin-api");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("read the listening line");
        // Keep draining stdout so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let base = line
            .trim()
            .strip_prefix("admin-api listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from admin-api: {line:?}"))
            .to_owned();
        Self {
            base,
            data_dir: data_dir.to_owned(),
            kind: Kind::Binary { child },
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client sending [`TEST_TOKEN`].
    pub fn client(&self) -> Client {
        Client::new(&self.base, Some(TEST_TOKEN))
    }

    /// A client sending no token.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.base, None)
    }

    /// Stops the server gracefully and waits until it has.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        match &mut self.kind {
            Kind::InProcess { server } => {
                if let Some(server) = server.take() {
                    server.stop().expect("in-process server stops cleanly");
                }
            }
            Kind::Binary { child } => {
                if let Ok(None) = child.try_wait() {
                    let _ = Command::new("kill")
                        .arg("-TERM")
                        .arg(child.id().to_string())
                        .status();
                    for _ in 0..100 {
                        if let Ok(Some(_)) = child.try_wait() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }

    /// For binary servers: waits for the process to exit and returns whether it exited 0.
    pub fn wait_exit_success(mut self) -> bool {
        match &mut self.kind {
            Kind::Binary { child } => child.wait().map(|s| s.success()).unwrap_or(false),
            Kind::InProcess { .. } => true,
        }
    }

    /// For binary servers: the process id (to send signals in tests).
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Binary { child } => Some(child.id()),
            Kind::InProcess { .. } => None,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Path of the `admin-api` binary, built once per test process (see the module docs).
pub fn admin_api_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("ADMIN_API_BIN") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/<test-binary> -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_owned();
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
            .to_owned();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "admin-api", "--bin", "admin-api"]);
        if profile != "debug" {
            build.args([
                "--profile",
                if profile == "release" {
                    "release"
                } else {
                    &profile
                },
            ]);
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build for admin-api");
        assert!(status.success(), "cargo build -p admin-api failed");
        let bin = profile_dir.join(format!("admin-api{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
    .clone()
}

/// An HTTP response reduced to what tests look at.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an RFC 9457 problem with `status` and problem type ending in `slug`; returns
    /// its JSON.
    pub fn assert_problem(&self, status: u16, slug: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        let doc = self.json();
        assert_eq!(doc["status"], status, "{doc}");
        assert!(
            doc["type"]
                .as_str()
                .is_some_and(|t| t.ends_with(&format!("/{slug}"))),
            "problem type {} is not {slug}",
            doc["type"]
        );
        assert!(
            doc["title"].is_string() && doc["detail"].is_string(),
            "{doc}"
        );
        doc
    }
}

/// A blocking client whose 4xx/5xx are responses, not errors.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `base`, sending `token` as a bearer token when given.
    pub fn new(base: &str, token: Option<&str>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        Self {
            base: base.to_owned(),
            token: token.map(str::to_owned),
            agent,
        }
    }

    /// The same client with another token (or none).
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Sends any request: `body` goes as-is with `Content-Type: application/json` unless a
    /// content type is among `headers`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        let has_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_type {
            builder = builder.header("Content-Type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let result = match body {
            Some(body) => self
                .agent
                .run(builder.body(body.as_bytes().to_vec()).expect("request")),
            None => self.agent.run(builder.body(()).expect("request")),
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.request("POST", path, &[], Some(&body.to_string()))
    }

    /// `POST path` without a body.
    pub fn post_empty(&self, path: &str) -> Reply {
        self.request("POST", path, &[], None)
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.request("PUT", path, &[], Some(&body.to_string()))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, &[], None)
    }
}

/// A fresh temporary data directory (removed when dropped).
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("admin-api-test-")
        .tempdir()
        .expect("temp dir")
}

/// Whether slow tests run (`OTC_SLOW_TESTS=1`, always set by the release gate).
pub fn slow_tests_enabled() -> bool {
    std::env::var("OTC_SLOW_TESTS").is_ok_and(|v| v == "1")
}
