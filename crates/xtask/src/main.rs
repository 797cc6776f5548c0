//! `cargo run -p xtask -- gen` regenerates man/ and completions/ from the
//! tables; `cargo run -p xtask -- check` fails if the committed files drift.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let root = xtask::repo_root();
    match std::env::args().nth(1).as_deref() {
        Some("gen") => match xtask::generate(&root) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask gen: {e}");
                ExitCode::FAILURE
            }
        },
        Some("check") => {
            let drift = xtask::drift(&root);
            for d in &drift {
                eprintln!("xtask check: {d}");
            }
            if drift.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("xtask check: run `cargo run -p xtask -- gen` and commit the result");
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- gen|check");
            ExitCode::from(2)
        }
    }
}
