//! The wire format between us and the bash evaluation script: NUL-separated
//! fields, `Q` opening each request's answer, `F`/`D` for each sourced file
//! and the reported names set after it, `R` opening the result and
//! `V name index value` for each element. The conf cache stores answers in
//! the same format, so what is read back is what bash would have written.

use super::request::Sourced;
use std::path::PathBuf;

/// `s` in the format the evaluation script writes (for the conf cache;
/// `decode` reads it back). stderr is not part of it.
pub(crate) fn encode(s: &Sourced) -> Vec<u8> {
    let mut out = b"Q\0".to_vec();
    let field = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(b);
        out.push(0);
    };
    for (file, names) in &s.after_file {
        field(&mut out, b"F");
        field(&mut out, file.as_os_str().as_encoded_bytes());
        for n in names {
            field(&mut out, b"D");
            field(&mut out, n.as_bytes());
        }
    }
    field(&mut out, b"R");
    for (name, arr) in &s.vars {
        for (i, v) in arr {
            field(&mut out, b"V");
            field(&mut out, name.as_bytes());
            field(&mut out, i.to_string().as_bytes());
            field(&mut out, v.as_bytes());
        }
    }
    out
}

/// Read what `encode` (or the evaluation script) wrote.
pub(crate) fn decode(data: &[u8]) -> Vec<Sourced> {
    parse(data)
}

fn parse(out: &[u8]) -> Vec<Sourced> {
    let mut fields = out.split(|&b| b == 0).map(|f| String::from_utf8_lossy(f).into_owned());
    let mut all: Vec<Sourced> = Vec::new();
    let mut in_result = false;
    while let Some(tag) = fields.next() {
        match tag.as_str() {
            "Q" => {
                all.push(Sourced::default());
                in_result = false;
            }
            "F" => {
                if let (Some(cur), Some(f)) = (all.last_mut(), fields.next()) {
                    cur.after_file.push((PathBuf::from(f), Vec::new()));
                }
            }
            "D" => {
                if let (Some(cur), Some(n)) = (all.last_mut(), fields.next()) {
                    if let Some(last) = cur.after_file.last_mut() {
                        last.1.push(n);
                    }
                }
            }
            "R" => in_result = true,
            "V" => {
                let (n, i, v) = (fields.next(), fields.next(), fields.next());
                if let (Some(cur), Some(n), Some(i), Some(v), true) = (all.last_mut(), n, i, v, in_result) {
                    if let Ok(i) = i.parse::<usize>() {
                        cur.vars.entry(n).or_default().insert(i, v);
                    }
                }
            }
            _ => {}
        }
    }
    all
}
