//! `shell::plain` and the working directory: `safe_source`'s write-back
//! echoes `NAME[i]="value"` unquoted, so each field is a pathname pattern
//! matched in the working directory (`NAME[0]=...` by its `[0]` alone). In
//! a directory where a field matches, bash's answer changes and
//! `shell::plain` must refuse; elsewhere it must still agree with bash. Its
//! own test binary: it changes the process's working directory, which
//! `shell::plain` reads once.

// Tests run programs and read the environment directly: the funnels of
// clippy.toml are rules for the product, not for the code that drives it.
#![allow(clippy::disallowed_methods)]

use dkms_state::conf::DKMS_CONF_VARIABLES;
use dkms_state::shell::plain;
use dkms_state::shell::{self, Request};
use std::fs;

#[test]
fn a_matching_name_in_the_working_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    fs::create_dir_all(&cwd).unwrap();
    // What the fields `MAKE[0]="x"` and `*.ko"` (the closing quote is part
    // of the last field) match.
    fs::write(cwd.join("MAKE0=\"x\""), "").unwrap();
    fs::write(cwd.join("x.ko\""), "").unwrap();
    std::env::set_current_dir(&cwd).unwrap();

    let req = |name: &str, text: &str| {
        let f = tmp.path().join(name);
        fs::write(&f, text).unwrap();
        Request {
            context: vec![("kernelver".into(), "6.1.0-99-amd64".into())],
            unset_first: true,
            files: vec![f],
            whitelist: DKMS_CONF_VARIABLES.to_vec(),
            capture_stderr: true,
            ..Default::default()
        }
    };
    let matching = [req("a.conf", "MAKE=x\n"), req("b.conf", "CLEAN=\"rm *.ko\"\n")];
    let plain = [req("c.conf", "CLEAN=x\nAUTOINSTALL=y\n"), req("d.conf", "CLEAN=\"rm y*.o\"\n")];

    let bash = shell::source_by_bash(&matching).unwrap();
    // bash's answers are not the text: the write-back assigned `MAKE0`, and
    // `*.ko"` became `x.ko"`.
    assert_eq!(bash[0].count("MAKE"), 0);
    assert_eq!(bash[1].scalar("CLEAN"), "rm x.ko");
    for r in &matching {
        assert!(plain::evaluate(r).is_none(), "{:?} must be left to bash", r.files);
    }
    let bash = shell::source_by_bash(&plain).unwrap();
    for (r, b) in plain.iter().zip(&bash) {
        assert_eq!(plain::evaluate(r).as_ref(), Some(b));
    }
}
