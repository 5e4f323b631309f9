//! The model types as JSON: what serde accepts and refuses (the backend behaviour tests are in
//! `usage_store::conformance`, run by each backend's crate).

use usage_store::HistoryQuery;

#[test]
fn history_query_json_rejects_unknown_fields() {
    let ok: HistoryQuery =
        serde_json::from_str(r#"{"tenant":"acme","bucket":"day","from_ms":0,"to_ms":86400000}"#)
            .unwrap();
    assert_eq!((ok.cursor, ok.limit), (None, None));
    let bad = serde_json::from_str::<HistoryQuery>(
        r#"{"tenant":"acme","bucket":"day","from_ms":0,"to_ms":1,"extra":1}"#,
    );
    assert!(bad.is_err());
}
