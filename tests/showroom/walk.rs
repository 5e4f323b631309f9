//! One step of the showroom: send a request, print it and the part of the answer that matters,
//! and judge the status.

use serde_json::Value;
use suites::admin::{Client, Reply, TestServer};

/// The showroom's client and its tally.
pub struct Walk {
    client: Client,
    anonymous: Client,
    /// Steps that answered as expected.
    pub passed: u32,
    /// Steps that did not.
    pub failed: u32,
}

/// A request to make.
pub struct Req<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Extra headers.
    pub headers: Vec<(&'a str, String)>,
    /// JSON body.
    pub body: Option<Value>,
    /// Send the bearer token.
    pub auth: bool,
}

impl<'a> Req<'a> {
    /// A request with the token and no body.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            headers: Vec::new(),
            body: None,
            auth: true,
        }
    }

    /// With a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// With a header.
    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Without the bearer token.
    pub fn anonymous(mut self) -> Self {
        self.auth = false;
        self
    }
}

impl Walk {
    /// A walk against `server`.
    pub fn new(server: &TestServer) -> Self {
        Self {
            client: server.client(),
            anonymous: server.anonymous(),
            passed: 0,
            failed: 0,
        }
    }

    /// The authenticated client, for requests the walk makes without printing them.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Prints a section heading.
    pub fn section(&self, title: &str) {
        println!("== {title} ==");
    }

    /// Sends `req`, prints it and `show(answer)`, and records PASS when the status is `expect`
    /// and `check(answer)` holds.
    pub fn step(
        &mut self,
        title: &str,
        req: Req<'_>,
        expect: u16,
        show: impl Fn(&Value) -> String,
        check: impl Fn(&Value) -> bool,
    ) -> Reply {
        let client = if req.auth {
            &self.client
        } else {
            &self.anonymous
        };
        let headers: Vec<(&str, &str)> =
            req.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let body = req.body.as_ref().map(Value::to_string);
        println!(
            "  -> {} {}{}",
            req.method,
            req.path,
            body.as_deref()
                .map(brief)
                .map(|b| format!("  {b}"))
                .unwrap_or_default()
        );
        let reply = client.request(req.method, req.path, &headers, body.as_deref());
        let json: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        println!("  <- {}  {}", reply.status, show(&json));
        if reply.status != expect {
            self.failed += 1;
            println!(
                "FAIL {title}: expected {expect}, got {}: {}\n",
                reply.status,
                brief(&reply.body)
            );
        } else if !check(&json) {
            // The status was right: say so, or the line reads "expected 200, got 200".
            self.failed += 1;
            println!(
                "FAIL {title}: status {expect} as expected, but the content check failed: {}\n",
                brief(&reply.body)
            );
        } else {
            self.passed += 1;
            println!("PASS {title}\n");
        }
        reply
    }
}

/// A one-line abbreviation of a JSON text.
pub fn brief(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 140 {
        format!("{}…", one_line.chars().take(140).collect::<String>())
    } else {
        one_line
    }
}

/// `field=value` pairs of a JSON object, for the transcript.
pub fn fields(v: &Value, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n}={}", v[*n]))
        .collect::<Vec<_>>()
        .join(" ")
}
