//! `man/dkms-json.7`: every record type of `dkms --json` and every field,
//! generated from the JSON schema of dkms-proto (`dkms_proto::schema()`, the
//! same text as the committed schema/dkms.schema.json), so the page cannot
//! name a record or field the protocol lacks, or miss one.

use crate::page::{head, prose, see_also, strip};
use clap_mangen::roff::{bold, roman, Inline, Roff};
use serde_json::{Map, Value};

/// Schema text as inline roff: `code` spans bold, the rest roman.
fn inline(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| if i % 2 == 1 { bold(t.to_string()) } else { roman(t.to_string()) })
        .collect()
}

fn describe(r: &mut Roff, o: &Map<String, Value>) {
    if let Some(d) = o.get("description").and_then(Value::as_str) {
        r.text(inline(&d.replace('\n', " ")));
    }
}

/// The name of a `$ref`'s definition.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next())
}

/// A field's type as a reader needs it: `string`, `array of strings`, a
/// definition's name, ...; the bool says whether the field may be absent
/// (a nullable type: optional data is omitted, never `null`).
fn type_of(v: &Value) -> (String, bool) {
    let nullable = |t: &Value| t.as_array().is_some_and(|a| a.iter().any(|x| x == "null"));
    if let Some(r) = ref_name(v) {
        return (r.to_string(), false);
    }
    for key in ["allOf", "anyOf"] {
        if let Some(parts) = v.get(key).and_then(Value::as_array) {
            let name = parts.iter().find_map(ref_name).unwrap_or("object").to_string();
            return (name, parts.iter().any(|p| p.get("type") == Some(&Value::from("null"))));
        }
    }
    let t = v.get("type").cloned().unwrap_or(Value::Null);
    let base = match &t {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).find(|s| *s != "null").unwrap_or("null").to_string(),
        _ => "any".to_string(),
    };
    let base = if base == "array" {
        let items = v.get("items").map(type_of).map(|(t, _)| t).unwrap_or_default();
        format!("array of {items}")
    } else {
        base
    };
    (base, nullable(&t))
}

fn fields(r: &mut Roff, o: &Map<String, Value>) {
    let required: Vec<&str> =
        o.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(props) = o.get("properties").and_then(Value::as_object) else { return };
    for (name, p) in props {
        if name == "type" {
            continue;
        }
        let (t, nullable) = type_of(p);
        let optional = nullable || !required.contains(&name.as_str());
        r.control("TP", []);
        r.text([bold(name.clone()), roman(format!(" ({t}{})", if optional { ", optional" } else { "" }))]);
        if let Some(p) = p.as_object() {
            describe(r, p);
        }
    }
}

/// The record's `type` value.
fn record_type(o: &Map<String, Value>) -> &str {
    o.get("properties")
        .and_then(|p| p.get("type"))
        .and_then(|t| t.get("enum"))
        .and_then(|e| e.get(0))
        .and_then(Value::as_str)
        .expect("every record has a one-value type")
}

/// The RECORDS section: one subsection per record type.
fn records(schema: &Value) -> String {
    let mut r = Roff::default();
    r.control("SH", ["RECORDS"]);
    for rec in schema["oneOf"].as_array().expect("records").iter().filter_map(Value::as_object) {
        r.control("SS", [record_type(rec)]);
        describe(&mut r, rec);
        fields(&mut r, rec);
    }
    strip(r.render())
}

/// The VALUES section: the enumerations and objects records refer to.
fn values(schema: &Value) -> String {
    let mut r = Roff::default();
    r.control("SH", ["VALUES"]);
    for (name, def) in schema["definitions"].as_object().expect("definitions") {
        let Some(def) = def.as_object() else { continue };
        r.control("SS", [name.as_str()]);
        describe(&mut r, def);
        for v in def.get("oneOf").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object) {
            for word in v.get("enum").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                r.control("TP", []);
                r.text([bold(format!("\"{word}\""))]);
                describe(&mut r, v);
            }
        }
        for word in def.get("enum").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            r.control("TP", []);
            r.text([bold(format!("\"{word}\""))]);
        }
        fields(&mut r, def);
    }
    strip(r.render())
}

const DESCRIPTION: &str = "With --json (on every action) stdout carries only JSON Lines: one JSON \
object per line. Messages for people and the output of make and other programs go to stderr or to \
make.log. Not in upstream dkms.\n\nEvery record starts with \"format_version\": 1 and \"type\", \
followed by the fields of its type. Keys are snake_case, enumerated values kebab-case; a module is \
named by module, version and, where the record concerns one kernel, kernel and arch, like upstream's \
options -m, -v, -k and -a. Fields marked optional are left out when they do not apply (never null); \
lists are always present, possibly empty.\n\nStability, for format version 1: record types, fields \
and values are only ever added, never renamed, removed or retyped. Ignore what you do not know.\n\n\
Every run ends with one result record (--version: one version record instead). An operand - makes an \
action read such records from stdin and act on each one that names a module and version, so actions \
can be chained; records of other types are ignored, error records passed through.";

const EXAMPLES: &str =
    "  dkms status --json |\n    jq -r 'select(.state == \"installed\") | \"\\(.module)/\\(.version)\"'\n  \
dkms autoinstall --json |\n    jq -c 'select(.type == \"error\") | {module, kind, hint}'\n  \
dkms add --json ./src | dkms build --json - |\n    dkms install --json - | jq -c 'select(.type == \"result\")'";

/// `man/dkms-json.7`.
pub fn dkms_json_7() -> String {
    let schema: Value = serde_json::from_str(&dkms_proto::schema()).expect("the schema is JSON");
    let mut out = head("dkms-json", 7, "Miscellaneous Information Manual", "the JSON Lines records of dkms --json");
    let mut r = Roff::default();
    r.control("SH", ["DESCRIPTION"]);
    prose(&mut r, DESCRIPTION, "PP");
    r.control("PP", []);
    r.text([roman("The JSON schema of a record is shipped as schema/dkms.schema.json in the sources.")]);
    r.control("SS", ["format_version"]);
    r.text([roman("Always 1 for this protocol.")]);
    out.push_str(&strip(r.render()));
    out.push_str(&records(&schema));
    out.push_str(&values(&schema));
    let mut r = Roff::default();
    r.control("SH", ["EXAMPLES"]);
    prose(&mut r, EXAMPLES, "PP");
    out.push_str(&strip(r.render()));
    out.push_str(&see_also(&[("dkms", 8), ("dkms.conf", 5), ("framework.conf", 5), ("jq", 1)]));
    out
}

/// Every record type and every field of each, as the schema has them (for
/// the test that the page names them all).
pub fn record_fields() -> Vec<(String, Vec<String>)> {
    let schema: Value = serde_json::from_str(&dkms_proto::schema()).expect("the schema is JSON");
    schema["oneOf"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(Value::as_object)
        .map(|o| {
            let keys = o.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect());
            (record_type(o).to_string(), keys.unwrap_or_default())
        })
        .collect()
}
