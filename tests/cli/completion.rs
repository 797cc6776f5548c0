//! The generated completion scripts, run in real shells against the built
//! `dkms` and a temp DKMS tree: bash (always), zsh and fish (reported
//! skipped when not installed). Trees come from framework.conf (through DKMS_SYSCONFDIR) or
//! from tree options on the line being completed.

use crate::skip::skip_unless;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A temp machine: a DKMS tree with foo/1.0 and foo/2.0 and bar/0.1, a
/// source tree with baz-3.0 and foo-1.0, a module tree with two kernels,
/// and a framework.conf pointing at them.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().expect("temp dir");
        let m = Machine { dir };
        for (module, version) in [("foo", "1.0"), ("foo", "2.0"), ("bar", "0.1")] {
            let src = m.path("src").join(format!("{module}-{version}"));
            fs::create_dir_all(&src).expect("mkdir");
            fs::write(src.join("dkms.conf"), format!("PACKAGE_NAME={module}\nPACKAGE_VERSION={version}\n"))
                .expect("write");
            let v = m.path("tree").join(module).join(version);
            fs::create_dir_all(&v).expect("mkdir");
            symlink(&src, v.join("source")).expect("symlink");
        }
        fs::create_dir_all(m.path("src/baz-3.0")).expect("mkdir");
        fs::write(m.path("src/baz-3.0/dkms.conf"), "PACKAGE_NAME=baz\n").expect("write");
        fs::create_dir_all(m.path("tree/foo/original_module")).expect("mkdir");
        for k in ["6.1.0-9-amd64", "6.10.2-1-amd64"] {
            fs::create_dir_all(m.path("modules").join(k)).expect("mkdir");
        }
        fs::create_dir_all(m.path("other/qux/9")).expect("mkdir");
        fs::create_dir_all(m.path("etc/dkms")).expect("mkdir");
        fs::write(
            m.path("etc/dkms/framework.conf"),
            format!(
                "# test\ndkms_tree={}\nsource_tree={}\ninstall_tree={}\n",
                m.path("tree").display(),
                m.path("src").display(),
                m.path("modules").display()
            ),
        )
        .expect("write");
        m
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A directory holding only `dkms` (our front-end), for PATH.
    fn bin_dir(&self) -> PathBuf {
        let d = self.path("bin");
        if !d.exists() {
            fs::create_dir_all(&d).expect("mkdir");
            symlink(crate::support::ours(), d.join("dkms")).expect("symlink");
        }
        d
    }

    fn shell(&self, program: &str, script: &str) -> Vec<String> {
        let path = format!("{}:{}", self.bin_dir().display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new(program)
            .args(["-c", script])
            .env("DKMS_SYSCONFDIR", self.path("etc"))
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("XDG_DATA_HOME", self.path("xdg"))
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
        let mut v: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect();
        v.sort();
        v
    }

    /// COMPREPLY of bash for `words`, the last one being completed.
    fn bash(&self, words: &[&str]) -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let script = format!(
            "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_dkms\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
            repo().join("completions/dkms.bash").display(),
            quoted.join(" "),
            words.len() - 1
        );
        self.shell("bash", &script)
    }
}

fn has(shell: &str) -> bool {
    Command::new(shell).args(["-c", "true"]).output().is_ok_and(|o| o.status.success())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn bash_completes_verbs_options_and_values() {
    let m = Machine::new();
    let verbs = m.bash(&["dkms", ""]);
    assert!(verbs.contains(&"install".to_string()) && verbs.contains(&"kernel_postinst".to_string()), "{verbs:?}");
    assert_eq!(m.bash(&["dkms", "st"]), strings(&["status"]));
    // Modules and versions come from the tree framework.conf names.
    assert_eq!(m.bash(&["dkms", "install", "-m", ""]), strings(&["bar", "foo"]));
    assert_eq!(m.bash(&["dkms", "-m", "foo", "install", "-v", ""]), strings(&["1.0", "2.0"]));
    assert_eq!(m.bash(&["dkms", "install", "--module", "foo/1.0", "-v", ""]), Vec::<String>::new());
    assert_eq!(m.bash(&["dkms", "remove", ""]), strings(&["bar/0.1", "foo/1.0", "foo/2.0"]));
    // add: modules whose source is in the source tree.
    assert_eq!(m.bash(&["dkms", "add", "-m", ""]), strings(&["bar", "baz", "foo"]));
    assert_eq!(m.bash(&["dkms", "add", "-m", "foo", "-v", ""]), strings(&["1.0", "2.0"]));
    let src = m.path("src");
    let add = m.bash(&["dkms", "add", &format!("{}/ba", src.display())]);
    assert!(add.contains(&format!("{}/baz-3.0", src.display())), "{add:?}");
    // Kernels from the module tree, in version order.
    assert_eq!(m.bash(&["dkms", "build", "-k", ""]), strings(&["6.1.0-9-amd64", "6.10.2-1-amd64"]));
    assert_eq!(m.bash(&["dkms", "match", "--templatekernel", "6.10"]), strings(&["6.10.2-1-amd64"]));
    // A tree given on the line wins over framework.conf, in both spellings
    // (bash splits --opt=value at the '=').
    let other = m.path("other").display().to_string();
    assert_eq!(m.bash(&["dkms", "status", "--dkmstree", &other, "-m", ""]), strings(&["qux"]));
    assert_eq!(m.bash(&["dkms", "status", "--dkmstree", "=", &other, "-m", ""]), strings(&["qux"]));
    // Options per verb.
    let build = m.bash(&["dkms", "build", "--"]);
    assert!(build.contains(&"--force".to_string()) && build.contains(&"--json".to_string()), "{build:?}");
    assert!(!build.contains(&"--binaries-only".to_string()), "{build:?}");
    assert!(!build.contains(&"--no-initrd".to_string()), "{build:?}");
    assert_eq!(m.bash(&["dkms", "mktarball", "--bin"]), strings(&["--binaries-only"]));
    assert_eq!(m.bash(&["dkms", "--exec"]), strings(&["--exec-path="]));
    assert_eq!(m.bash(&["dkms", "status", "--format", ""]), strings(&["json", "text"]));
    assert_eq!(m.bash(&["dkms", "status", "--format", "=", "j"]), strings(&["json"]));
    // The value of -m is not mistaken for the action.
    assert_eq!(m.bash(&["dkms", "-m", "status", ""]).len(), verbs.len());
    // cache: its sub-words (the verb table's), then what each takes.
    assert_eq!(m.bash(&["dkms", "cache", ""]), cache_sub_words());
    assert_eq!(m.bash(&["dkms", "-k", "6.1.0-9-amd64", "cache", "p"]), strings(&["push"]));
    assert_eq!(m.bash(&["dkms", "cache", "key", ""]), strings(&["bar/0.1", "foo/1.0", "foo/2.0"]));
    let dirs = m.bash(&["dkms", "cache", "verify", &format!("{}/o", m.dir.path().display())]);
    assert_eq!(dirs, strings(&[&m.path("other").display().to_string()]));
}

/// The sub-words of `cache` in the verb table, sorted, as the shells list
/// them: key, push, deb, verify, gc, gate, status and kmm must be there.
fn cache_sub_words() -> Vec<String> {
    let mut w: Vec<String> = dkms_cli::table::CACHE.sub_words.iter().map(|s| s.word.to_string()).collect();
    w.sort();
    assert_eq!(w, strings(&["deb", "gate", "gc", "key", "kmm", "push", "status", "verify"]));
    w
}

#[test]
fn zsh_completes_verbs_options_and_values() {
    skip_unless!(has("zsh"), "zsh is not installed");
    let m = Machine::new();
    // compsys stubs that print what would be offered.
    let zsh = |words: &[&str]| -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let script = format!(
            r#"compadd() {{ while [[ $1 == -* && $1 != -- ]]; do shift; done; [[ $1 == -- ]] && shift; print -l -- "$@" }}
_describe() {{ local a=${{@[-1]}}; print -l -- ${{(P)a%%:*}} }}
_files() {{ print -- FILES "$@" }}
compset() {{ PREFIX=${{PREFIX#*=}} }}
words=({})
CURRENT={}
source '{}'"#,
            quoted.join(" "),
            words.len(),
            repo().join("completions/_dkms").display()
        );
        m.shell("zsh", &script)
    };
    assert!(zsh(&["dkms", ""]).contains(&"install".to_string()));
    assert_eq!(zsh(&["dkms", "install", "-m", ""]), strings(&["bar", "foo"]));
    assert_eq!(zsh(&["dkms", "install", "-m", "foo", "-v", ""]), strings(&["1.0", "2.0"]));
    assert_eq!(zsh(&["dkms", "add", "--module", ""]), strings(&["bar", "baz", "foo"]));
    assert_eq!(zsh(&["dkms", "status", "-k", ""]), strings(&["6.1.0-9-amd64", "6.10.2-1-amd64"]));
    let other = m.path("other").display().to_string();
    assert_eq!(zsh(&["dkms", "status", &format!("--dkmstree={other}"), "-m", ""]), strings(&["qux"]));
    assert_eq!(zsh(&["dkms", "-c", ""]), strings(&["FILES"]));
    let opts = zsh(&["dkms", "mktarball", "-"]);
    assert!(opts.contains(&"--binaries-only".to_string()) && !opts.contains(&"--force".to_string()), "{opts:?}");
    assert_eq!(zsh(&["dkms", "cache", ""]), cache_sub_words());
    assert_eq!(zsh(&["dkms", "cache", "push", ""]), strings(&["bar/0.1", "foo/1.0", "foo/2.0"]));
    assert_eq!(zsh(&["dkms", "cache", "gc", ""]), strings(&["FILES -/"]));
}

#[test]
fn fish_completes_verbs_options_and_values() {
    skip_unless!(has("fish"), "fish is not installed");
    let m = Machine::new();
    let fish = |line: &str| -> Vec<String> {
        let script = format!("source '{}'; complete -C '{line}'", repo().join("completions/dkms.fish").display());
        m.shell("fish", &script).into_iter().map(|l| l.split('\t').next().unwrap_or("").to_string()).collect()
    };
    assert!(fish("dkms ").contains(&"install".to_string()));
    assert_eq!(fish("dkms install -m "), strings(&["bar", "foo"]));
    assert_eq!(fish("dkms install -m foo -v "), strings(&["1.0", "2.0"]));
    assert_eq!(fish("dkms add -m "), strings(&["bar", "baz", "foo"]));
    assert_eq!(fish("dkms build -k "), strings(&["6.1.0-9-amd64", "6.10.2-1-amd64"]));
    assert_eq!(fish("dkms remove "), strings(&["bar/0.1", "foo/1.0", "foo/2.0"]));
    let other = m.path("other").display().to_string();
    assert_eq!(fish(&format!("dkms status --dkmstree {other} -m ")), strings(&["qux"]));
    let opts = fish("dkms mktarball --");
    assert!(opts.contains(&"--binaries-only".to_string()) && !opts.contains(&"--force".to_string()), "{opts:?}");
    assert_eq!(fish("dkms cache "), cache_sub_words());
    assert_eq!(fish("dkms cache key "), strings(&["bar/0.1", "foo/1.0", "foo/2.0"]));
    assert_eq!(
        fish(&format!("dkms cache verify {}/o", m.dir.path().display())),
        strings(&[&format!("{}/", m.path("other").display())])
    );
}
