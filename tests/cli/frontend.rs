//! The front-end and the argument grammar: `--version`, no action, unknown
//! options, two actions, verb words anywhere, usage; each checked against
//! fixed expectations and, where upstream is available, against it.

use crate::support::{compare_fresh, Sandbox};

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
