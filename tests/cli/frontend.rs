//! The front-end and the argument grammar: `--version`, no action, unknown
//! options, two actions, verb words anywhere, usage; each checked against
//! fixed expectations and, where upstream is available, against it.

use crate::support::{compare_fresh, ours, Sandbox};
use std::fs;
use std::path::Path;
use std::process::Command;

fn nothing(_: &Sandbox) {}

#[test]
fn version() {
    for args in [&["--version"][..], &["-V"], &["status", "--version"]] {
        let o = compare_fresh(&format!("dkms {args:?}"), &nothing, args);
        assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "dkms-3.4.3\n", ""), "{args:?}");
    }
}

#[test]
fn no_action_prints_usage_and_exits_0() {
    let o = compare_fresh("dkms (no action)", &nothing, &[]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stderr, "\nError! Unknown action specified: \"\"\n");
    assert!(o.stdout.starts_with("Usage: dkms [action] [options]\n"), "{}", o.stdout);
    // A word that is no action is taken as a module name: still no action.
    let o = compare_fresh("dkms frobnicate", &nothing, &["frobnicate"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, "\nError! Unknown action specified: \"\"\n"));
}

#[test]
fn unknown_option_exits_2() {
    for args in [&["status", "--bogus"][..], &["--bogus", "status"], &["add", "-x"]] {
        let o = compare_fresh(&format!("dkms {args:?}"), &nothing, args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        let opt = args.iter().find(|a| a.starts_with('-')).unwrap();
        assert_eq!(o.stderr, format!("\nError! Unknown option: {opt}\n"), "{args:?}");
        assert!(o.stdout.starts_with("Usage: dkms [action] [options]\n"), "{}", o.stdout);
    }
}

#[test]
fn two_actions_exit_4() {
    for args in [&["status", "add"][..], &["add", "remove", "-m", "x", "-v", "1"], &["status", "status"]] {
        let o = compare_fresh(&format!("dkms {args:?}"), &nothing, args);
        assert_eq!(o.code, 4, "{args:?}");
        assert_eq!(o.stderr, "\nError! Cannot specify more than one action.\n", "{args:?}");
        assert_eq!(o.stdout, "");
    }
}

#[test]
fn help_and_odd_arguments() {
    let o = compare_fresh("dkms --help", &nothing, &["--help"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("Usage: dkms [action] [options]\n"), "{}", o.stdout);
    // The action word may come anywhere; a value-taking option at the end
    // swallows nothing; a word that is neither gets a warning.
    for (args, code) in [
        (&["-m", "zt-none", "status"][..], 0),
        (&["status", "-m"], 0),
        (&["status", "zt-a/1", "zt-b/2"], 0),
        (&["--all", "status"], 0),
        (&["status", "-k", "1.0/x/y"], 0),
        // --all with -k, with -a; --all banned for add; arch/kernel count
        (&["remove", "zt-none/1.0", "--all", "-k", "1.0"], 2),
        (&["remove", "zt-none/1.0", "--all", "-a", "x86_64"], 3),
        (&["add", "zt-none/1.0", "--all"], 5),
        (&["remove", "zt-none/1.0", "-k", "1", "-k", "2", "-a", "a", "-a", "b", "-a", "c"], 1),
    ] {
        let o = compare_fresh(&format!("dkms {args:?}"), &nothing, args);
        assert_eq!(o.code, code, "{args:?}: {}", o.stderr);
    }
}

/// Where `dkms` finds `dkms-<verb>`: `--exec-path` / `DKMS_EXEC_PATH`
/// first, then its own directory when the verb's binary is there (a fresh
/// build beats stale binaries in the libexec dir baked into it), then that
/// libexec dir (none in a debug build).
#[test]
fn verb_lookup_order() {
    let sb = Sandbox::new();
    let own = sb.root.join("own");
    let given = sb.root.join("given");
    for (dir, who) in [(&own, "own"), (&given, "given")] {
        fs::create_dir_all(dir).unwrap();
        let verb = dir.join("dkms-status");
        fs::write(&verb, format!("#!/bin/sh\necho {who} \"$@\"\n")).unwrap();
        fs::set_permissions(&verb, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    // A copy, not a symlink: current_exe() resolves symlinks.
    let dkms = own.join("dkms");
    fs::copy(ours(), &dkms).unwrap();
    let run = |exec_path: Option<&Path>, args: &[&str]| {
        let mut c = Command::new(&dkms);
        c.args(args).env_remove("DKMS_EXEC_PATH").env("DKMS_SYSCONFDIR", &sb.sysconf).current_dir(&sb.work);
        if let Some(d) = exec_path {
            c.env("DKMS_EXEC_PATH", d);
        }
        // Exec of a file just written fails with ETXTBSY while a child
        // another test thread forked meanwhile still holds the descriptor.
        for _ in 0..100 {
            match c.output() {
                Err(e) if e.raw_os_error() == Some(26) => {}
                Ok(o) if String::from_utf8_lossy(&o.stderr).contains("Text file busy") => {}
                o => {
                    let o = o.unwrap();
                    return (
                        o.status.code(),
                        String::from_utf8_lossy(&o.stdout).into_owned(),
                        String::from_utf8_lossy(&o.stderr).into_owned(),
                    );
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{} stays busy", dkms.display());
    };
    assert_eq!(run(None, &["-m", "x", "status"]), (Some(0), "own -m x\n".into(), String::new()));
    assert_eq!(run(Some(&given), &["status"]), (Some(0), "given\n".into(), String::new()));
    let flag = format!("--exec-path={}", given.display());
    assert_eq!(run(None, &[&flag, "status"]), (Some(0), "given\n".into(), String::new()));
    // A directory given without the verb's binary: the next ones are tried.
    assert_eq!(run(Some(&sb.work), &["status"]), (Some(0), "own\n".into(), String::new()));
    // Not in the own directory either: the baked-in libexec dir, if any, is
    // tried next; the error names the directories in lookup order.
    fs::remove_file(own.join("dkms-status")).unwrap();
    let (code, out, err) = run(Some(&given.join("none")), &["status"]);
    let mut dirs = vec![given.join("none"), own.clone()];
    dirs.extend(option_env!("DKMS_LIBEXECDIR").map(std::path::PathBuf::from));
    if dirs.iter().all(|d| !d.join("dkms-status").is_file()) {
        let listed = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        assert_eq!((code, out.as_str()), (Some(127), ""), "{err}");
        assert!(err.contains(&format!("dkms-status was not found in: {listed}\n")), "{err}");
    } else {
        // An installed dkms-status in the baked-in libexec dir ran.
        assert!(!out.starts_with("own") && !out.starts_with("given"), "{out}");
    }
}

/// `dkms cache status` is upstream's `status` of a module named cache when
/// the tree has one (byte for byte, compared with upstream where it is
/// available), else our rollout gate (`cache gate`); `dkms status cache`
/// is always upstream's, `dkms-cache status` always ours.
#[test]
fn cache_status_is_ours_unless_a_module_is_named_cache() {
    use crate::support::{Impl, KVER};
    let with_cache = |sb: &Sandbox| sb.installed("cache", "1.0");
    for args in [&["cache", "status"][..], &["cache", "status", "-k", KVER], &["status", "cache"]] {
        let o = compare_fresh(&format!("dkms {args:?} (module cache)"), &with_cache, args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        assert!(o.stdout.starts_with(&format!("cache/1.0, {KVER}, ")) && o.stdout.ends_with(": installed\n"));
        let mut sb = Sandbox::new();
        with_cache(&sb);
        let plain = sb.run(Impl::Ours, &["status", "-m", "cache"]);
        assert_eq!((o.code, &o.stdout, &o.stderr), (plain.code, &plain.stdout, &plain.stderr), "{args:?}");
    }
    // Upstream's order, no module cache: status of nothing, as upstream.
    let o = compare_fresh("dkms status cache", &nothing, &["status", "cache"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""));

    // No module named cache: ours, which wants a kernel (exit 2,
    // cache-usage); the same from dkms-cache, module cache or not.
    let dkms_cache = ours().with_file_name("dkms-cache");
    for (setup, program, args) in [
        (&nothing as &dyn Fn(&Sandbox), None, &["cache", "status"][..]),
        (&nothing, None, &["cache", "status", "--json"]),
        (&with_cache, Some(dkms_cache.as_path()), &["status"]),
        (&nothing, Some(dkms_cache.as_path()), &["status"]),
    ] {
        let mut sb = Sandbox::new();
        setup(&sb);
        let o = sb.run_with(Impl::Ours, program, args, true);
        assert_eq!(o.code, 2, "{program:?} {args:?}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains("cache status needs -k KERNEL."), "{program:?} {args:?}: {}", o.stderr);
    }
}
