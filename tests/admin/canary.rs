//! No error detail echoes a client-supplied value. Every endpoint that takes input gets a
//! canary (a secret-looking text holding a quote, an escaped quote, a backtick and a space, so
//! it is never a valid name) in every member of its body, in the wrong shapes (a string where a
//! number or an object is expected, an array, a nested object), as an unknown member's name,
//! as the whole body, in every query parameter and in the path; no answer may contain it.
//!
//! Regression (hardening review): `PUT /admin/modules/web-search/credentials/api_key` with body
//! `"xx\"S3cr3t"`, `PUT /admin/billing/quota` with a period of ``x`S3cr3t``, and routing with
//! `{"categories":"a\"S"}` echoed the value in the 422's detail.

use crate::robustness::{ENDPOINTS, KEYS, encode};
use serde_json::{Value, json};
use suites::admin::{TestServer, temp_dir};

/// What must never come back.
const CORE: &str = "S3cr3t";

fn canaries() -> [String; 3] {
    [
        format!("xx\"{CORE}"),
        format!("x`{CORE} y"),
        format!("a\\\"{CORE}`,\" at line 1"),
    ]
}

fn bodies(canary: &str) -> Vec<String> {
    let mut bodies = vec![
        json!(canary).to_string(),
        json!([canary]).to_string(),
        json!({ canary: 1 }).to_string(),
        json!([{ "request_id": canary }]).to_string(),
    ];
    for key in KEYS {
        for value in [
            json!(canary),
            json!([canary]),
            json!({ "v": canary }),
            json!({ canary: canary }),
        ] {
            bodies
                .push(Value::Object([(key.to_string(), value)].into_iter().collect()).to_string());
        }
    }
    bodies
}

#[test]
fn no_error_detail_echoes_a_client_value() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut leaks = Vec::new();
    let mut requests = 0;
    for canary in canaries() {
        let bodies = bodies(&canary);
        for (method, template) in ENDPOINTS {
            for segment in [canary.as_str(), "web-search"] {
                let path = template.replace("{x}", &encode(segment));
                let mut send = |path: &str, body: Option<&str>| {
                    requests += 1;
                    let reply = client.request(method, path, &[("If-Match", "*")], body);
                    if reply.status >= 400 && reply.body.contains(CORE) {
                        leaks.push(format!(
                            "{method} {path} body {body:?} -> {} {}",
                            reply.status, reply.body
                        ));
                    }
                };
                send(&path, None);
                for key in KEYS {
                    send(&format!("{path}?{key}={}", encode(&canary)), None);
                }
                if matches!(*method, "POST" | "PUT" | "PATCH") {
                    for body in &bodies {
                        send(&path, Some(body));
                    }
                }
            }
        }
    }
    assert!(requests > 5000, "{requests}");
    leaks.truncate(20);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
