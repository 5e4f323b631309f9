//! The routing config document: which modules serve each request category.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The routing config: for each request category, the modules a request may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The category used when a request matches none; must name a category of this config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)
    )]
    pub default_category: Option<String>,
    /// Categories by name (1 to 64 characters of `[A-Za-z0-9_.-]`).
    pub categories: BTreeMap<String, Category>,
}

/// One request category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Ids of the modules serving this category: at least one, no duplicates, each known and
    /// enabled.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub modules: Vec<String>,
    /// What the category is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl RoutingConfig {
    /// Names of the categories that route to `module`.
    pub fn categories_using<'a>(&'a self, module: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.categories
            .iter()
            .filter(move |(_, c)| c.modules.iter().any(|m| m == module))
            .map(|(name, _)| name.as_str())
    }
}

/// Applies an RFC 7396 JSON merge patch to `target`: objects merge recursively, `null`
/// removes a member, anything else replaces.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": ["b"]});
        merge_patch(&mut doc, &json!({"a": "c"}));
        assert_eq!(doc, json!({"a": "c"}));
        let mut doc = json!({"a": "foo"});
        merge_patch(&mut doc, &json!(null));
        assert_eq!(doc, json!(null));
    }
}
