//! The binaries follow from the verb table: `bin/dkms.rs` (the front-end)
//! and one `bin/dkms-<verb>.rs` per verb, each a one-line `main`, plus their
//! `[[bin]]` entries in the root Cargo.toml (between the BEGIN/END lines).

use dkms_cli::table::{Verb, VERBS};
use std::path::PathBuf;

const FRONT_END: &str = "//! `dkms`: the git-style front-end that dispatches to `dkms-<verb>`, and
//! the verb itself when invoked as a hardlinked `dkms-<verb>`.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_dkms()
}
";

const BEGIN: &str = "# BEGIN [[bin]] (generated from the verb table by `make gen`; do not edit)";
const END: &str = "# END [[bin]]";

/// The table constant naming a verb (`kernel_postinst` -> `KERNEL_POSTINST`).
fn constant(v: &Verb) -> String {
    v.name.to_ascii_uppercase()
}

/// `bin/*.rs`.
pub fn files() -> Vec<(PathBuf, String)> {
    let mut out = vec![(PathBuf::from("bin/dkms.rs"), FRONT_END.to_string())];
    for v in VERBS {
        let text = format!(
            "//! `{}`: runs the verb `{}` (crates/dkms-cmd/src/verbs).\n\
             fn main() -> std::process::ExitCode {{\n    dkms_cmd::run_verb(&dkms_cli::table::{})\n}}\n",
            v.binary,
            v.name,
            constant(v)
        );
        out.push((PathBuf::from(format!("bin/{}.rs", v.binary)), text));
    }
    out
}

/// `current` (the root Cargo.toml) with its generated `[[bin]]` block made
/// anew; unchanged if it has no BEGIN/END lines.
pub fn cargo_toml(current: &str) -> String {
    let (Some(a), Some(b)) = (current.find(BEGIN), current.find(END)) else { return current.to_string() };
    let mut block = format!("{BEGIN}\n");
    for name in std::iter::once("dkms").chain(VERBS.iter().map(|v| v.binary)) {
        block.push_str(&format!("[[bin]]\nname = \"{name}\"\npath = \"bin/{name}.rs\"\n\n"));
    }
    format!("{}{block}{}", &current[..a], &current[b..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_verb_gets_a_binary_and_an_entry() {
        let toml = super::cargo_toml(&format!("x\n{}\n{}\ny\n", super::BEGIN, super::END));
        for v in dkms_cli::table::VERBS {
            assert!(toml.contains(&format!("name = \"{}\"", v.binary)));
            assert!(super::files()
                .iter()
                .any(|(p, t)| p.ends_with(format!("{}.rs", v.binary)) && t.contains(&super::constant(v))));
        }
        assert!(toml.starts_with("x\n") && toml.ends_with("y\n"));
    }
}
