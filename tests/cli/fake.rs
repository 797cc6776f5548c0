//! A private DKMS tree with fake kernel headers and a fake `make` on PATH,
//! for tests that build and install without real headers.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const KVER: &str = "6.1.0-77-jsontest";

pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dkms")).parent().unwrap().to_path_buf()
}

/// A private tree with fake kernel headers and a fake `make` on PATH.
pub struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in ["dkms", "src", "etc/dkms", "bin"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::create_dir_all(p.join(format!("modules/{KVER}/build/include"))).unwrap();
        // Not empty: kernel_prerm deletes empty directories of the module tree.
        std::fs::write(p.join(format!("modules/{KVER}/build/include/version.h")), "").unwrap();
        std::fs::write(p.join("etc/dkms/framework.conf"), "try_sign_modules=\"false\"\n").unwrap();
        // `make ... M=<dir>`: create <dir>/<name>.ko for every obj-m of its Makefile.
        let make = r#"#!/bin/sh
for a in "$@"; do case $a in M=*) m=${a#M=};; esac; done
[ -n "$m" ] || exit 2
for o in $(sed -n 's/^obj-m *+*= *//p' "$m/Makefile"); do
    printf 'fake module\n' > "$m/${o%.o}.ko"; echo "  LD      ${o%.o}.ko"
done
"#;
        let mk = p.join("bin/make");
        std::fs::write(&mk, make).unwrap();
        std::fs::set_permissions(&mk, std::fs::Permissions::from_mode(0o755)).unwrap();
        let src = p.join("src/dkms_hello-1.0");
        std::fs::create_dir_all(&src).unwrap();
        let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dkms_hello-1.0");
        for f in ["dkms.conf", "Makefile", "dkms_hello.c"] {
            std::fs::copy(ex.join(f), src.join(f)).unwrap();
        }
        Tree { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin_dir().join("dkms"));
        let p = self.dir.path();
        c.args(args)
            .arg("--dkmstree")
            .arg(p.join("dkms"))
            .arg("--sourcetree")
            .arg(p.join("src"))
            .arg("--installtree")
            .arg(p.join("modules"))
            .env("DKMS_SYSCONFDIR", p.join("etc"))
            .env("PATH", format!("{}:{}", p.join("bin").display(), std::env::var("PATH").unwrap_or_default()))
            .env("LC_ALL", "C")
            .env_remove("DKMS_LOCK_HELD");
        c
    }

    /// Run, feeding `stdin`; (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child =
            self.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into(),
            String::from_utf8_lossy(&o.stderr).into(),
        )
    }
}

impl Tree {
    /// Put a one-module source tree `<src>/<m>-<v>` in place (obj-m = `m`).
    pub fn add_source(&self, m: &str, v: &str) {
        let src = self.path(&format!("src/{m}-{v}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("dkms.conf"),
            format!(
                "PACKAGE_NAME={m}\nPACKAGE_VERSION={v}\nBUILT_MODULE_NAME[0]={m}\nDEST_MODULE_LOCATION[0]=/extra\nAUTOINSTALL=yes\n"
            ),
        )
        .unwrap();
        std::fs::write(src.join("Makefile"), format!("obj-m += {m}.o\n")).unwrap();
    }

    /// `add_source`, but make builds other.ko, not the `m`.ko dkms.conf
    /// names: every build of it fails (and is remembered).
    pub fn add_failing_source(&self, m: &str, v: &str) {
        self.add_source(m, v);
        std::fs::write(self.path(&format!("src/{m}-{v}/Makefile")), "obj-m += other.o\n").unwrap();
    }
}
