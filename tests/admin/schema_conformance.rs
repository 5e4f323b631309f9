//! The OpenAPI document states every rule the server enforces, checked by generating requests
//! from the document itself: for every operation, one request valid by the schema and, for each
//! constraint the schema states (pattern, lengths, bounds, item counts, required members,
//! unknown members, enums, types), one request that breaks exactly that constraint. A valid
//! request must not be refused for its shape (400 or 422); an invalid one must be a 4xx; and
//! every answer's status and media type must be documented for its operation.
//!
//! A few rules cannot be stated in a static schema (a timestamp relative to the server's
//! clock, a name that must refer to a catalogue module, a module listed in `calls` but not in
//! `modules`); the generator picks values that satisfy them, by member name.

use serde_json::{Map, Value, json};
use suites::admin::{Client, Reply, TestServer, temp_dir};

/// The document, with `$ref` resolution.
struct Doc(Value);

impl Doc {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                self.resolve(&self.0["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// A value of `schema` that a request may carry; `name` is the member or parameter it
    /// fills (used to pick values for the rules a schema cannot state).
    fn valid(&self, schema: &Value, name: &str) -> Value {
        let schema = self.resolve(schema);
        if let Some(first) = schema
            .get("oneOf")
            .or(schema.get("anyOf"))
            .and_then(|a| a.get(0))
        {
            return self.valid(first, name);
        }
        if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
            return first.clone();
        }
        match kind(schema) {
            "string" => json!(string_for(schema, name)),
            "integer" => json!(number_for(schema, name) as i64),
            "number" => json!(number_for(schema, name)),
            "boolean" => json!(true),
            "array" => {
                let items = &schema["items"];
                let count = schema["minItems"].as_u64().unwrap_or(1).max(1);
                Value::Array((0..count).map(|_| self.valid(items, name)).collect())
            }
            "object" => {
                let mut object = Map::new();
                for member in required(schema) {
                    let member_schema = &schema["properties"][member.as_str()];
                    object.insert(member.clone(), self.valid(member_schema, &member));
                }
                Value::Object(object)
            }
            _ => Value::Null,
        }
    }

    /// Values of `schema` valid at an upper bound it states (longest string, largest number,
    /// most items), with the bound: the server must accept what the document allows.
    /// Members whose value must name something that exists are left at their usual value.
    fn edges(&self, schema: &Value, name: &str) -> Vec<(String, Value)> {
        const REFERENCES: [&str; 6] = ["module", "modules", "calls", "answered_by", "id", "name"];
        let schema = self.resolve(schema);
        if let Some(first) = schema.get("oneOf").and_then(|a| a.get(0)) {
            return self.edges(first, name);
        }
        let mut out = Vec::new();
        if schema.get("enum").is_some() || REFERENCES.contains(&name) {
            return out;
        }
        match kind(schema) {
            "string" => {
                if let Some(max) = schema["maxLength"].as_u64() {
                    let longest = "a".repeat(max as usize);
                    let fits = schema["pattern"].as_str().is_none_or(|p| {
                        regex::Regex::new(p)
                            .expect("the pattern compiles")
                            .is_match(&longest)
                    });
                    if fits {
                        out.push((format!("{max} characters long"), json!(longest)));
                    }
                }
            }
            "integer" | "number" if !name.ends_with("timestamp_ms") => {
                if let Some(max) = schema["maximum"].as_f64() {
                    let at = if kind(schema) == "integer" {
                        json!(max as i64)
                    } else {
                        json!(max)
                    };
                    out.push((format!("at its maximum {max}"), at));
                }
            }
            "object" => {
                let valid = self.valid(schema, name);
                for member in required(schema) {
                    let member_schema = &schema["properties"][member.as_str()];
                    for (what, edge) in self.edges(member_schema, &member) {
                        let mut request = valid.clone();
                        request[member.as_str()] = edge;
                        out.push((format!("`{member}` {what}"), request));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// Values of `schema` that each break one constraint it states, with what they break.
    fn invalid(&self, schema: &Value, name: &str) -> Vec<(String, Value)> {
        let schema = self.resolve(schema);
        if let Some(first) = schema.get("oneOf").and_then(|a| a.get(0)) {
            // Broken as its first alternative (it is not any other alternative's type).
            return self.invalid(first, name);
        }
        let mut out = Vec::new();
        if schema.get("enum").is_some() {
            out.push(("not a member of the enum".into(), json!("not-a-member")));
            return out;
        }
        match kind(schema) {
            "string" => {
                out.push(("a number instead of a string".into(), json!(7)));
                if let Some(max) = schema["maxLength"].as_u64() {
                    out.push((
                        format!("longer than {max}"),
                        json!("a".repeat(max as usize + 1)),
                    ));
                }
                if schema["minLength"].as_u64().is_some_and(|min| min > 0) {
                    out.push(("empty".into(), json!("")));
                }
                if let Some(pattern) = schema["pattern"].as_str() {
                    let re = regex::Regex::new(pattern).expect("the pattern compiles");
                    let bad = ["with space!", " ", "\u{7}bell", "a/b"]
                        .into_iter()
                        .find(|c| !re.is_match(c))
                        .expect("a string breaking the pattern");
                    out.push((format!("not matching {pattern}"), json!(bad)));
                }
            }
            "integer" | "number" => {
                out.push(("a string instead of a number".into(), json!("x")));
                let integer = kind(schema) == "integer";
                let number = |x: f64| if integer { json!(x as i64) } else { json!(x) };
                if let Some(min) = schema["minimum"].as_f64() {
                    out.push((format!("below {min}"), number(min - 1.0)));
                }
                if let Some(max) = schema["maximum"].as_f64() {
                    out.push((format!("above {max}"), number(max * 2.0 + 1.0)));
                }
                if integer {
                    out.push(("a fraction instead of an integer".into(), json!(1.5)));
                }
            }
            "boolean" => out.push(("a string instead of a boolean".into(), json!("yes"))),
            "array" => {
                out.push(("an object instead of an array".into(), json!({})));
                if schema["minItems"].as_u64().is_some_and(|min| min > 0) {
                    out.push(("no items".into(), json!([])));
                }
                if let Some(max) = schema["maxItems"].as_u64().filter(|&max| max <= 1024) {
                    let item = self.valid(&schema["items"], name);
                    out.push((
                        format!("more than {max} items"),
                        json!(vec![item; max as usize + 1]),
                    ));
                }
                for (what, bad) in self.invalid(&schema["items"], name).into_iter().take(2) {
                    out.push((format!("an item {what}"), json!([bad])));
                }
            }
            "object" => {
                let valid = self.valid(schema, name);
                out.push(("an array instead of an object".into(), json!([])));
                if schema["additionalProperties"] == json!(false) {
                    let mut extra = valid.clone();
                    extra["zz_unknown_member"] = json!(1);
                    out.push(("an unknown member".into(), extra));
                }
                for member in required(schema) {
                    let mut missing = valid.clone();
                    missing.as_object_mut().map(|o| o.remove(&member));
                    out.push((format!("without `{member}`"), missing));
                    let member_schema = &schema["properties"][member.as_str()];
                    for (what, bad) in self.invalid(member_schema, &member) {
                        let mut broken = valid.clone();
                        broken[member.as_str()] = bad;
                        out.push((format!("`{member}` {what}"), broken));
                    }
                }
            }
            _ => {}
        }
        out
    }
}

fn kind(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(t) => t,
        // `["string", "null"]`: the non-null type.
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "",
    }
}

fn required(schema: &Value) -> Vec<String> {
    schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A string for member `name` that satisfies `schema` and the rules a schema cannot state:
/// modules must be in the catalogue, names must be fresh where they must be unique.
fn string_for(schema: &Value, name: &str) -> String {
    static FRESH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let fresh = || {
        format!(
            "gen-{}",
            FRESH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
    };
    let candidate = match name {
        "module" | "modules" | "calls" | "answered_by" | "id" => "web-search".to_owned(),
        "request_id" | "idempotency_key" => fresh(),
        "intent" => "lookup".to_owned(),
        "tenant" => "acme".to_owned(),
        "name" => "coding".to_owned(),
        "value" => "a-secret-value".to_owned(),
        _ => "x".to_owned(),
    };
    if let Some(pattern) = schema["pattern"].as_str() {
        let re = regex::Regex::new(pattern).expect("the pattern compiles");
        assert!(
            re.is_match(&candidate),
            "{name}: {candidate:?} must match {pattern}"
        );
    }
    candidate
}

/// A number for member `name` within `schema`'s bounds; timestamps are "now".
fn number_for(schema: &Value, name: &str) -> f64 {
    if name.ends_with("timestamp_ms") {
        return (suites::now_ms() - 1_000) as f64;
    }
    let min = schema["minimum"].as_f64().unwrap_or(0.0);
    let max = schema["maximum"].as_f64().unwrap_or(f64::MAX);
    (min.max(1.0)).min(max)
}

/// One request: method, path with parameters filled in, query string, headers, body.
struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    content_type: Option<String>,
}

impl Request {
    fn send(&self, client: &Client) -> Reply {
        let mut url = self.path.clone();
        if !self.query.is_empty() {
            let pairs: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            url = format!("{url}?{}", pairs.join("&"));
        }
        let mut headers = vec![("If-Match", "*")];
        if let Some(content_type) = &self.content_type {
            headers.push(("Content-Type", content_type.as_str()));
        }
        let body = self.body.as_ref().map(Value::to_string);
        client.request(&self.method, &url, &headers, body.as_deref())
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of a path parameter that names something that exists.
fn path_value(param: &str, path: &str, draft_id: i64) -> String {
    match param {
        "id" if path.starts_with("/admin/dev/drafts") => draft_id.to_string(),
        "id" => "web-search".into(),
        "name" if path.contains("/credentials/") => "api_key".into(),
        "name" => "coding".into(),
        "version" => "1".into(),
        other => panic!("no value for path parameter {other}"),
    }
}

/// Checks that `reply` is documented for `operation`: its status, and its media type.
fn documented(operation: &Value, reply: &Reply, what: &str) -> Result<(), String> {
    let responses = &operation["responses"];
    let documented = responses
        .get(reply.status.to_string())
        .or(responses.get("default"))
        .ok_or_else(|| {
            format!(
                "{what}: status {} is not documented ({})",
                reply.status, reply.body
            )
        })?;
    let content_type = reply.header("content-type").unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match documented.get("content").and_then(Value::as_object) {
        None if reply.body.is_empty() => Ok(()),
        None => Err(format!(
            "{what}: {} has a body, none documented",
            reply.status
        )),
        Some(content) if content.contains_key(essence) => Ok(()),
        Some(content) => Err(format!(
            "{what}: {} answered {essence}, documented {:?}",
            reply.status,
            content.keys().collect::<Vec<_>>()
        )),
    }
}

/// Whether `reply` refuses for what the server holds rather than for the request's shape: an
/// evaluation with nothing in scope to evaluate on (`evaluation-refused`, documented as a 422
/// of its own type) says nothing about the body.
fn refused_for_state(reply: &Reply) -> bool {
    reply.status == 422
        && serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|doc| doc["type"].as_str().map(str::to_owned))
            .is_some_and(|kind| kind.ends_with("/evaluation-refused"))
}

#[test]
fn requests_generated_from_the_document_are_answered_as_it_says() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let doc = Doc(serde_json::from_str(&admin_api::openapi_document()).expect("document"));
    // Something for the dev-mode paths to name.
    let draft_id = client
        .post("/admin/dev/drafts", &json!({"id": "web-search"}))
        .json()["id"]
        .as_i64()
        .expect("a draft");
    let mut problems = Vec::new();
    let mut sent = 0;
    let paths = doc.0["paths"].as_object().expect("paths").clone();
    for (path, item) in &paths {
        for (method, operation) in item.as_object().expect("path item") {
            let method = method.to_uppercase();
            let mut valid = Request {
                method: method.clone(),
                path: path.clone(),
                query: Vec::new(),
                body: None,
                content_type: None,
            };
            let mut query_params = Vec::new();
            for param in operation["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap_or_default();
                match param["in"].as_str() {
                    Some("path") => {
                        valid.path = valid
                            .path
                            .replace(&format!("{{{name}}}"), &path_value(name, path, draft_id));
                    }
                    Some("query") => {
                        if param["required"] == json!(true) {
                            let value = doc.valid(&param["schema"], name);
                            let text = value.as_str().map_or(value.to_string(), str::to_owned);
                            valid.query.push((name.to_owned(), text));
                        }
                        query_params.push(param.clone());
                    }
                    _ => {}
                }
            }
            let body_schema = operation["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.iter().next())
                .map(|(media, c)| (media.clone(), c["schema"].clone()));
            if let Some((media, schema)) = &body_schema {
                valid.body = Some(doc.valid(schema, ""));
                valid.content_type = Some(media.clone());
            }
            let what = format!("{method} {path}");
            let reply = valid.send(&client);
            sent += 1;
            if matches!(reply.status, 400 | 422) && !refused_for_state(&reply) {
                problems.push(format!(
                    "{what}: a request valid by the document was refused {}: {}",
                    reply.status, reply.body
                ));
            }
            if let Err(e) = documented(operation, &reply, &what) {
                problems.push(e);
            }
            // Every media type the document lists is accepted, and one it does not list is 415.
            if let Some((_, schema)) = &body_schema {
                let listed: Vec<String> = operation["requestBody"]["content"]
                    .as_object()
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                for media in listed
                    .iter()
                    .map(String::as_str)
                    .chain(["application/vnd.other+json"])
                {
                    let mut request = valid.clone_shape();
                    request.body = Some(doc.valid(schema, ""));
                    request.content_type = Some(media.to_owned());
                    let reply = request.send(&client);
                    sent += 1;
                    let is_listed = listed.iter().any(|l| l == media);
                    if is_listed == (reply.status == 415) {
                        problems.push(format!(
                            "{what} as {media}: answered {} (listed: {is_listed})",
                            reply.status
                        ));
                    }
                }
            }
            // Each stated upper bound reached once: the server accepts it.
            if let Some((media, schema)) = &body_schema {
                for (why, edge) in doc.edges(schema, "") {
                    let mut request = valid.clone_shape();
                    request.body = Some(edge);
                    request.content_type = Some(media.clone());
                    let reply = request.send(&client);
                    sent += 1;
                    let what = format!("{what} with body {why}");
                    if matches!(reply.status, 400 | 413 | 422) && !refused_for_state(&reply) {
                        problems.push(format!(
                            "{what}: allowed by the document, refused {}: {}",
                            reply.status, reply.body
                        ));
                    }
                    if let Err(e) = documented(operation, &reply, &what) {
                        problems.push(e);
                    }
                }
            }
            // Each stated constraint broken once: bodies, then query parameters.
            let mut broken: Vec<(String, Request)> = Vec::new();
            if let Some((media, schema)) = &body_schema {
                for (why, bad) in doc.invalid(schema, "") {
                    let mut request = Request {
                        body: Some(bad),
                        ..valid.clone_shape()
                    };
                    request.content_type = Some(media.clone());
                    broken.push((format!("body {why}"), request));
                }
            }
            for param in &query_params {
                let name = param["name"].as_str().unwrap_or_default();
                for (why, bad) in doc.invalid(&param["schema"], name) {
                    // A query carries text: a wrong JSON type is just other text there.
                    if why.contains("instead of") && why.contains("string") {
                        continue;
                    }
                    let text = bad.as_str().map_or(bad.to_string(), str::to_owned);
                    let mut request = valid.clone_shape();
                    request.query.retain(|(k, _)| k != name);
                    request.query.push((name.to_owned(), text));
                    broken.push((format!("query `{name}` {why}"), request));
                }
            }
            for (why, request) in broken {
                let reply = request.send(&client);
                sent += 1;
                let what = format!("{what} with {why}");
                if !(400..500).contains(&reply.status) {
                    problems.push(format!("{what}: answered {}, not a 4xx", reply.status));
                }
                if let Err(e) = documented(operation, &reply, &what) {
                    problems.push(e);
                }
            }
        }
    }
    eprintln!("{sent} requests generated from the document");
    assert!(sent > 150, "only {sent} requests were generated");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

impl Request {
    /// The same request, for a variant to change one part of.
    fn clone_shape(&self) -> Request {
        Request {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            body: self.body.clone(),
            content_type: self.content_type.clone(),
        }
    }
}
