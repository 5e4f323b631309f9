//! Serde messages as a client may read them: every value the client wrote masked, so an error
//! never echoes input (a secret pasted into the wrong field stays out of responses and logs).

/// A serde message with every client-supplied value replaced by `…`.
///
/// serde writes a value right after a marker (`string "`, `unknown variant \``,
/// `unknown field \``, `integer \``, ...) and right before `, expected …` or ` at line …`. The value
/// itself may hold quotes, escaped quotes or backticks, so the mask runs from the marker to the
/// *last* such suffix rather than to the next delimiter. Regression: a value with an escaped
/// quote or a backtick (`"xx\"S3cr3t"`, ``x`S3cr3t``) came back in the detail.
pub fn mask_quoted(text: &str) -> String {
    const MARKERS: [(&str, char); 7] = [
        ("string \"", '"'),
        ("unknown variant `", '`'),
        ("unknown field `", '`'),
        ("char '", '\''),
        ("bytes \"", '"'),
        ("integer `", '`'),
        ("floating point `", '`'),
    ];
    let mut out = text.to_owned();
    for (marker, close) in MARKERS {
        let Some(start) = out.find(marker) else {
            continue;
        };
        let value_start = start + marker.len();
        let rest = &out[value_start..];
        let end = [", expected", " at line "]
            .iter()
            .filter_map(|suffix| rest.rfind(suffix))
            .min()
            .unwrap_or(rest.len());
        out = format!("{}…{close}{}", &out[..value_start], &rest[end..]);
    }
    if out.matches('"').count() % 2 == 1 {
        // An unterminated quoted value without a serde marker: drop what follows the quote.
        if let Some(at) = out.rfind('"') {
            out.truncate(at + 1);
            out.push('…');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask_quoted;

    #[test]
    fn quoted_values_are_masked_and_field_names_survive() {
        assert_eq!(
            mask_quoted("invalid type: string \"hunter2\", expected u64 for `units`"),
            "invalid type: string \"…\", expected u64 for `units`"
        );
        assert_eq!(mask_quoted("unterminated \"abc"), "unterminated \"…");
        // Regression: `{"period": "sk-live-secret"}` came back as "unknown variant
        // `sk-live-secret`"; the expected variants are ours and stay.
        assert_eq!(
            mask_quoted("unknown variant `sk-live-secret`, expected `day` or `month` at line 1"),
            "unknown variant `…`, expected `day` or `month` at line 1"
        );
    }

    /// Regression (hardening review): a value with an escaped quote or a backtick came back:
    /// the mask toggled at every quote.
    #[test]
    fn values_holding_quotes_or_backticks_are_masked_whole() {
        let cases = [
            r#"invalid type: string "xx"S3cr3t", expected a map at line 1 column 12"#,
            "unknown variant `x`S3cr3t`, expected one of `day`, `month` at line 1 column 40",
            r#"invalid value: string "a", expected "S3cr3t", expected a name"#,
            "unknown field `S3cr3t`, expected one of `limit`, `period`",
            "invalid value: integer `-123456789`, expected u32",
            r#"invalid type: string "S3cr3t at line 9", expected u64 at line 1 column 5"#,
        ];
        for case in cases {
            let masked = mask_quoted(case);
            assert!(
                !masked.contains("S3cr3t") && !masked.contains("123456789"),
                "{case} -> {masked}"
            );
            assert!(masked.contains('…'), "{masked}");
        }
    }
}
