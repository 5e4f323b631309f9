//! The module manifest (what a catalogue entry is made from) and its full validation, which
//! reports every problem of a document at once instead of stopping at the first.
//!
//! Drafts hold manifests as raw JSON (work in progress may be incomplete); [`validate`] is the
//! gate a draft passes at publish. It walks the JSON itself rather than relying on serde alone,
//! because serde stops at the first error and the API promises the whole list.

use crate::error::FieldProblem;
use crate::ident::valid_ident;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest accepted display name, in characters.
pub const MAX_NAME: usize = 128;
/// Longest accepted module or tool description, in characters.
pub const MAX_DESCRIPTION: usize = 4096;
/// Most tools a module may declare.
pub const MAX_TOOLS: usize = 256;

/// A module manifest: the catalogue entry's content plus what only dev-mode tracks (the
/// version label and the tools). Enabled/disabled is catalogue state, not manifest content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModuleManifest {
    /// Module id, 1 to 64 characters of `[A-Za-z0-9_.-]`; the catalogue key.
    pub id: String,
    /// Display name, not blank, at most 128 characters.
    pub name: String,
    /// What the module does, at most 4096 characters.
    #[serde(default)]
    pub description: String,
    /// The module's own version label, a semantic version such as `1.4.0` or `2.0.0-rc.1`.
    /// Free of the dev-mode version number, which the server assigns.
    pub version: String,
    /// The tools the module offers: at least one, names unique.
    pub tools: Vec<ManifestTool>,
    /// Names of the credentials the module needs, each 1 to 64 characters of
    /// `[A-Za-z0-9_.-]`, no duplicates.
    #[serde(default)]
    pub required_credentials: Vec<String>,
}

/// One tool of a module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ManifestTool {
    /// Tool name, 1 to 64 characters of `[A-Za-z0-9_.-]`, unique within the module.
    pub name: String,
    /// What the tool does, at most 4096 characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The JSON Schema of the tool's input, when declared (any JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub input_schema: Option<Value>,
}

const MANIFEST_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "version",
    "tools",
    "required_credentials",
];
const TOOL_FIELDS: &[&str] = &["name", "description", "input_schema"];
const IDENT_RULE: &str = "must be 1 to 64 characters of [A-Za-z0-9_.-]";

/// Collects problems under a pointer prefix.
struct Report(Vec<FieldProblem>);

impl Report {
    fn add(&mut self, pointer: &str, detail: impl Into<String>) {
        self.0.push(FieldProblem {
            pointer: pointer.to_owned(),
            detail: detail.into(),
        });
    }

    fn unknown_fields(&mut self, base: &str, object: &Map<String, Value>, known: &[&str]) {
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            self.add(&child(base, key), "unknown field");
        }
    }

    /// A required string member; `None` (after reporting) when absent or not a string.
    fn string<'a>(
        &mut self,
        base: &str,
        object: &'a Map<String, Value>,
        key: &str,
    ) -> Option<&'a str> {
        match object.get(key) {
            None => {
                self.add(&child(base, key), "is required");
                None
            }
            Some(value) => self.string_value(&child(base, key), value),
        }
    }

    fn string_value<'a>(&mut self, pointer: &str, value: &'a Value) -> Option<&'a str> {
        let text = value.as_str();
        if text.is_none() {
            self.add(pointer, "must be a string");
        }
        text
    }

    fn ident(&mut self, pointer: &str, value: &Value) -> Option<String> {
        let text = self.string_value(pointer, value)?;
        if valid_ident(text) {
            Some(text.to_owned())
        } else {
            self.add(pointer, IDENT_RULE);
            None
        }
    }

    fn description(&mut self, pointer: &str, value: Option<&Value>) {
        if let Some(text) = value.and_then(|v| self.string_value(pointer, v))
            && text.chars().count() > MAX_DESCRIPTION
        {
            self.add(
                pointer,
                format!("must be at most {MAX_DESCRIPTION} characters"),
            );
        }
    }
}

/// `base` + `/key`, escaping `~` and `/` as RFC 6901 requires.
fn child(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// Validates a manifest document fully: every field's presence, type and syntax, unknown
/// fields, tool name uniqueness. Returns the typed manifest, or every problem found (in
/// document order of the checks), never an empty list.
pub fn validate(doc: &Value) -> Result<ModuleManifest, Vec<FieldProblem>> {
    let mut report = Report(Vec::new());
    let Some(object) = doc.as_object() else {
        report.add("", "a manifest must be a JSON object");
        return Err(report.0);
    };
    report.unknown_fields("", object, MANIFEST_FIELDS);
    if let Some(id) = object.get("id") {
        report.ident("/id", id);
    } else {
        report.add("/id", "is required");
    }
    if let Some(name) = report.string("", object, "name") {
        if name.trim().is_empty() {
            report.add("/name", "must not be blank");
        } else if name.chars().count() > MAX_NAME {
            report.add("/name", format!("must be at most {MAX_NAME} characters"));
        } else if name.chars().any(char::is_control) {
            report.add("/name", "must not contain control characters");
        }
    }
    report.description("/description", object.get("description"));
    if let Some(version) = report.string("", object, "version")
        && !valid_semver(version)
    {
        report.add(
            "/version",
            "must be a semantic version such as 1.4.0 or 2.0.0-rc.1",
        );
    }
    check_tools(&mut report, object.get("tools"));
    check_credentials(&mut report, object.get("required_credentials"));
    if !report.0.is_empty() {
        return Err(report.0);
    }
    // Every rule serde enforces was checked above, so this only fails on a bug; it is
    // reported as a problem of the document rather than a panic.
    serde_json::from_value(doc.clone()).map_err(|e| {
        vec![FieldProblem {
            pointer: String::new(),
            detail: crate::redact::mask_quoted(&e.to_string()),
        }]
    })
}

fn check_tools(report: &mut Report, tools: Option<&Value>) {
    let Some(tools) = tools else {
        report.add("/tools", "is required");
        return;
    };
    let Some(tools) = tools.as_array() else {
        report.add("/tools", "must be an array of tools");
        return;
    };
    if tools.is_empty() {
        report.add("/tools", "must list at least one tool");
    }
    if tools.len() > MAX_TOOLS {
        report.add("/tools", format!("must list at most {MAX_TOOLS} tools"));
    }
    let mut first_at: BTreeMap<String, usize> = BTreeMap::new();
    for (i, tool) in tools.iter().enumerate() {
        let base = format!("/tools/{i}");
        let Some(tool) = tool.as_object() else {
            report.add(&base, "a tool must be a JSON object");
            continue;
        };
        report.unknown_fields(&base, tool, TOOL_FIELDS);
        match tool.get("name") {
            None => report.add(&child(&base, "name"), "is required"),
            Some(name) => {
                let pointer = child(&base, "name");
                if let Some(name) = report.ident(&pointer, name) {
                    if let Some(first) = first_at.get(&name) {
                        report.add(&pointer, format!("duplicates the name of /tools/{first}"));
                    } else {
                        first_at.insert(name, i);
                    }
                }
            }
        }
        report.description(&child(&base, "description"), tool.get("description"));
        if let Some(schema) = tool.get("input_schema")
            && !schema.is_object()
        {
            report.add(
                &child(&base, "input_schema"),
                "must be a JSON object (a JSON Schema)",
            );
        }
    }
}

fn check_credentials(report: &mut Report, names: Option<&Value>) {
    let Some(names) = names else { return };
    let Some(names) = names.as_array() else {
        report.add(
            "/required_credentials",
            "must be an array of credential names",
        );
        return;
    };
    for (i, name) in names.iter().enumerate() {
        let pointer = format!("/required_credentials/{i}");
        if let Some(name) = report.ident(&pointer, name)
            && let Some(first) = names[..i].iter().position(|n| n.as_str() == Some(&name))
        {
            report.add(
                &pointer,
                format!("duplicates /required_credentials/{first}"),
            );
        }
    }
}

/// Whether `text` is a semantic version (semver.org 2.0.0): `MAJOR.MINOR.PATCH`, numbers
/// without leading zeros, then an optional `-pre.release` and `+build` of `[0-9A-Za-z-]`
/// identifiers; at most 64 characters.
pub fn valid_semver(text: &str) -> bool {
    if text.is_empty() || text.len() > 64 {
        return false;
    }
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.parse::<u64>().is_ok()
    };
    let ident = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let core_ok = {
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| numeric(p))
    };
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.').all(|p| {
            ident(p) && (!p.bytes().all(|b| b.is_ascii_digit()) || p == "0" || !p.starts_with('0'))
        })
    });
    let build_ok = build.is_none_or(|build| build.split('.').all(ident));
    core_ok && pre_ok && build_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "id": "maps",
            "name": "Maps",
            "description": "Geocoding and routes.",
            "version": "1.0.0",
            "tools": [{"name": "geocode", "input_schema": {"type": "object"}}, {"name": "route"}],
            "required_credentials": ["api_key"]
        })
    }

    fn pointers(doc: &Value) -> Vec<String> {
        validate(doc)
            .expect_err("invalid")
            .into_iter()
            .map(|p| p.pointer)
            .collect()
    }

    #[test]
    fn a_complete_manifest_validates_and_round_trips() {
        let manifest = validate(&good()).expect("valid");
        assert_eq!(manifest.tools.len(), 2);
        assert_eq!(serde_json::to_value(&manifest).expect("json"), good());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let doc = json!({
            "id": "no spaces",
            "name": " ",
            "version": "1.0",
            "tools": [{"name": "a"}, {"name": "a", "extra": 1}, 7, {"input_schema": []}],
            "required_credentials": ["k", "k", ""],
            "colour": "red"
        });
        assert_eq!(
            pointers(&doc),
            [
                "/colour",
                "/id",
                "/name",
                "/version",
                "/tools/1/extra",
                "/tools/1/name",
                "/tools/2",
                "/tools/3/name",
                "/tools/3/input_schema",
                "/required_credentials/1",
                "/required_credentials/2",
            ]
        );
    }

    #[test]
    fn missing_and_mistyped_fields() {
        assert_eq!(pointers(&json!({})), ["/id", "/name", "/version", "/tools"]);
        assert_eq!(pointers(&json!([])), [""]);
        let doc = json!({"id": 1, "name": "x", "version": "1.0.0", "tools": []});
        assert_eq!(pointers(&doc), ["/id", "/tools"]);
        let doc = json!({"id": "x", "name": "x", "version": "1.0.0", "tools": [{"name": "t"}], "required_credentials": "k"});
        assert_eq!(pointers(&doc), ["/required_credentials"]);
    }

    #[test]
    fn unknown_field_pointers_are_escaped() {
        let mut doc = good();
        doc["a/b~c"] = json!(1);
        assert_eq!(pointers(&doc), ["/a~1b~0c"]);
    }

    #[test]
    fn details_never_echo_values() {
        let mut doc = good();
        doc["id"] = json!("secret value");
        doc["version"] = json!("secret value");
        let problems = validate(&doc).expect_err("invalid");
        assert!(problems.iter().all(|p| !p.detail.contains("secret")));
    }

    /// The hand-written checks must be at least as strict as serde, or a manifest could pass
    /// them and then fail to decode (the "bug" branch of `validate`). Every field of a good
    /// manifest and of its first tool is replaced by values of every JSON type.
    #[test]
    fn validation_is_at_least_as_strict_as_serde() {
        let values = [
            json!(null),
            json!(true),
            json!(-1),
            json!(1.5),
            json!(""),
            json!("ok"),
            json!("1.0.0"),
            json!([]),
            json!(["ok"]),
            json!([{"name": "t"}]),
            json!({}),
        ];
        let mut docs = Vec::new();
        for field in MANIFEST_FIELDS.iter().chain(["extra"].iter()) {
            for value in &values {
                let mut doc = good();
                doc[*field] = value.clone();
                docs.push(doc);
                let mut doc = good();
                doc.as_object_mut().expect("object").remove(*field);
                docs.push(doc);
            }
        }
        for field in TOOL_FIELDS.iter().chain(["extra"].iter()) {
            for value in &values {
                let mut doc = good();
                doc["tools"][0][*field] = value.clone();
                docs.push(doc);
            }
        }
        for doc in docs {
            let serde_ok = serde_json::from_value::<ModuleManifest>(doc.clone()).is_ok();
            match validate(&doc) {
                Ok(_) => assert!(serde_ok, "{doc}"),
                Err(problems) => {
                    assert!(!problems.is_empty(), "{doc}");
                    assert!(problems.iter().all(|p| !p.detail.is_empty()), "{doc}");
                }
            }
        }
    }

    #[test]
    fn semver_syntax() {
        for ok in [
            "0.0.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-rc.1",
            "1.0.0-alpha-1+build.5",
            "1.0.0+x",
        ] {
            assert!(valid_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-a..b",
            "v1.0.0",
            "1.0.0.0",
        ] {
            assert!(!valid_semver(bad), "{bad}");
        }
    }
}
