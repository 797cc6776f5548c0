//! Generator of the committed artefacts that follow from the verb and flag
//! tables of dkms-cli: `man/*.8` and `completions/*` (through a
//! `clap::Command` tree), and the binaries: `bin/*.rs` and the `[[bin]]`
//! entries of the root Cargo.toml. Developer tool only; clap never reaches
//! the installed binaries.
#![forbid(unsafe_code)]

pub mod bins;
pub mod cli;
pub mod complete;
pub mod conf_pages;
pub mod json_page;
pub mod man;
pub mod page;

use std::path::{Path, PathBuf};

/// Every generated file: path relative to the repository root, contents.
pub fn render_all() -> Vec<(PathBuf, String)> {
    let mut out = vec![(PathBuf::from("man/dkms.8"), man::dkms_8())];
    for v in dkms_cli::table::VERBS.iter() {
        out.push((Path::new("man").join(man::verb_page_name(v)), man::verb_page(v)));
    }
    out.push(("man/dkms.conf.5".into(), conf_pages::dkms_conf_5()));
    out.push(("man/framework.conf.5".into(), conf_pages::framework_conf_5()));
    out.push(("man/dkms-json.7".into(), json_page::dkms_json_7()));
    let model = complete::Model::new();
    out.push(("completions/dkms.bash".into(), complete::bash(&model)));
    out.push(("completions/_dkms".into(), complete::zsh(&model)));
    out.push(("completions/dkms.fish".into(), complete::fish(&model)));
    out.extend(bins::files());
    out.push(("Cargo.toml".into(), bins::cargo_toml(&read_root_file("Cargo.toml"))));
    out
}

/// A file of the repository (the generated part of Cargo.toml is spliced
/// into the rest of it).
fn read_root_file(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_default()
}

/// The directories whose every file is generated.
pub const GENERATED_DIRS: [&str; 3] = ["man", "completions", "bin"];

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Write every generated file under `root`, and delete files in the
/// generated directories that are no longer generated.
pub fn generate(root: &Path) -> std::io::Result<()> {
    let files = render_all();
    for dir in GENERATED_DIRS {
        std::fs::create_dir_all(root.join(dir))?;
        for e in std::fs::read_dir(root.join(dir))? {
            let rel = Path::new(dir).join(e?.file_name());
            if !files.iter().any(|(p, _)| *p == rel) {
                std::fs::remove_file(root.join(&rel))?;
            }
        }
    }
    for (rel, text) in files {
        std::fs::write(root.join(rel), text)?;
    }
    Ok(())
}

/// Differences between what `root` holds and what would be generated: one
/// line per stale, missing or unexpected file.
pub fn drift(root: &Path) -> Vec<String> {
    let files = render_all();
    let mut out = Vec::new();
    for (rel, text) in &files {
        match std::fs::read_to_string(root.join(rel)) {
            Ok(t) if t == *text => {}
            Ok(_) => out.push(format!("{} is out of date", rel.display())),
            Err(_) => out.push(format!("{} is missing", rel.display())),
        }
    }
    for dir in GENERATED_DIRS {
        for e in std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            let rel = Path::new(dir).join(e.file_name());
            if !files.iter().any(|(p, _)| *p == rel) {
                out.push(format!("{} is not generated (remove it)", rel.display()));
            }
        }
    }
    out
}
