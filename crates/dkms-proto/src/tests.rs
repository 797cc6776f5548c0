//! Tests of the records: key order and case, round trips, the committed schema.

use super::*;

#[test]
fn first_keys_and_kebab_case() {
    let r = Envelope::new(Record::Skipped {
        target: Target { module: "m".into(), version: "1".into(), kernel: Some("6.1".into()), arch: None },
        reason: SkipReason::AlreadyBuilt,
    });
    let line = serde_json::to_string(&r).unwrap();
    assert!(
        line.starts_with(r#"{"format_version":1,"type":"skipped","module":"m","version":"1","kernel":"6.1","#),
        "{line}"
    );
    assert!(line.contains(r#""reason":"already-built""#));
    assert!(!line.contains("arch"));
    let back: Envelope = serde_json::from_str(&line).unwrap();
    assert_eq!(back, r);
}

#[test]
// Test-only, and dkms-proto does not depend on dkms-state (whose `env`
// is the funnel): reading the switch directly is fine here.
#[allow(clippy::disallowed_methods)]
fn schema_is_committed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/dkms.schema.json");
    if std::env::var_os("DKMS_UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema")).unwrap();
        std::fs::write(path, schema()).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(
        committed,
        schema(),
        "schema/dkms.schema.json is stale: run DKMS_UPDATE_SCHEMA=1 cargo test -p dkms-proto"
    );
}
