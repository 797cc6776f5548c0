//! Evaluating bash-sourced configuration the way upstream's `safe_source`
//! does: each file is sourced by bash in a subshell whose stdout is
//! discarded, every index of each whitelisted variable is written back as
//! `NAME[i]="value"` (minus one trailing CR) and sourced again in the outer
//! shell (so values are expanded a second time), and only the whitelist
//! survives. dkms.conf files are real bash (arrays, `$(...)`, conditionals),
//! so they are evaluated by bash, never parsed by us.
//!
//! Several requests run in one bash process, so `dkms status` does not start
//! a shell per line. The temporary files of `safe_source` live in a private
//! directory removed at the end (no `mktemp`/`rm` per file), and for plain
//! files the write-back lists array indices without forking (see
//! `fast_path_ok`): a conf then costs one subshell, not dozens of processes.
//!
//! This module runs bash whatever the files hold; which requests need bash
//! at all is decided by the facade, `shell::source`.

use super::lex;
use super::request::{Request, Sourced};
use super::wire;
use crate::{env, tools};
use std::io::{self, Write};
use std::path::PathBuf;

/// Single-quote `s` for bash.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

const PRELUDE: &str = r#"shopt -s extglob
__dkms_cr=$'\r'
__dkms_seq=0
__dkms_flags0=$-
__dkms_shellopts0=$SHELLOPTS
__dkms_bashopts0=$BASHOPTS
__dkms_source() {
    [[ -e $1 ]] || return 0
    local __dkms_tmp
    __dkms_tmp=$__dkms_dir/src.$((++__dkms_seq))
    (
        exec >"$__dkms_tmp"
        . "$1" >/dev/null
        if [[ $__dkms_fast && $- == "$__dkms_flags0" && $SHELLOPTS == "$__dkms_shellopts0" &&
              $BASHOPTS == "$__dkms_bashopts0" && ${IFS+set} && $IFS == $' \t\n' && -z ${!DKMS_DIRECTIVE*} ]]; then
            for __dkms_n in $__dkms_whitelist; do
                if [[ ${!__dkms_n@a} == *A* ]]; then
                    for __dkms_i in $(eval echo \${!"$__dkms_n"[@]}); do
                        eval echo '$__dkms_n[$__dkms_i]=\"${'"$__dkms_n"'[$__dkms_i]%$__dkms_cr}\"'
                    done
                    continue
                fi
                eval "__dkms_idx=(\${!$__dkms_n[@]})"
                for __dkms_i in "${__dkms_idx[@]}"; do
                    eval echo '$__dkms_n[$__dkms_i]=\"${'"$__dkms_n"'[$__dkms_i]%$__dkms_cr}\"'
                done
            done
            exit 0
        fi
        for __dkms_n in $__dkms_whitelist; do
            for __dkms_i in $(eval echo \${!"$__dkms_n"[@]}); do
                eval echo '$__dkms_n[$__dkms_i]=\"${'"$__dkms_n"'[$__dkms_i]%$__dkms_cr}\"'
            done
        done
        for __dkms_d in $(set | grep ^DKMS_DIRECTIVE | cut -d = -f 2-3); do
            echo "${__dkms_d%%=*}=\"${__dkms_d#*=}\""
        done
    )
    . "$__dkms_tmp"
    printf 'F\0%s\0' "$1"
    for __dkms_n in $__dkms_report; do
        eval "(( \${#$__dkms_n[@]} ))" && printf 'D\0%s\0' "$__dkms_n"
    done
    return 0
}
__dkms_dump() {
    printf 'R\0'
    for __dkms_n in $__dkms_whitelist; do
        eval "__dkms_idx=(\"\${!$__dkms_n[@]}\")"
        for __dkms_i in "${__dkms_idx[@]}"; do
            eval "__dkms_v=\${$__dkms_n[$__dkms_i]}"
            printf 'V\0%s\0%s\0%s\0' "$__dkms_n" "$__dkms_i" "$__dkms_v"
        done
    done
}
"#;

/// May the write-back after sourcing `file` take the fork-free path? Only
/// when the file's text is plain enough (`lex::static_only`: no
/// function definitions, `set`, `shopt`, `trap`, `eval`, sourcing, ...) and
/// no functions come from the environment, so that the only lines of
/// upstream's `set | grep ^DKMS_DIRECTIVE` can come from variables named
/// DKMS_DIRECTIVE* (checked in bash), and listing the indices of an indexed
/// array without `$(eval echo ...)` gives the same words. The shell options
/// and IFS are checked in bash after sourcing; anything else takes
/// upstream's own code path.
fn fast_path_ok(file: &std::path::Path) -> bool {
    static NO_ENV_FUNCTIONS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let no_env_functions =
        *NO_ENV_FUNCTIONS.get_or_init(|| !env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("BASH_FUNC_")));
    no_env_functions
        && std::fs::read(file).ok().and_then(|t| String::from_utf8(t).ok()).is_some_and(|t| lex::static_only(&t))
}

fn err_file(dir: &std::path::Path, i: usize) -> PathBuf {
    dir.join(format!("stderr.{i}"))
}

fn script(reqs: &[Request], err_dir: &std::path::Path) -> String {
    let mut s = String::from(PRELUDE);
    s.push_str(&format!("__dkms_dir={}\n", quote(&err_dir.to_string_lossy())));
    for (i, r) in reqs.iter().enumerate() {
        s.push_str("(\nprintf 'Q\\0'\n");
        if r.capture_stderr {
            s.push_str(&format!("exec 2>{}\n", quote(&err_file(err_dir, i).to_string_lossy())));
        }
        for (k, v) in &r.context {
            s.push_str(&format!("{k}={}\n", quote(v)));
        }
        s.push_str(&format!("__dkms_whitelist={}\n", quote(&r.whitelist.join(" "))));
        s.push_str(&format!("__dkms_report={}\n", quote(&r.report.join(" "))));
        if r.unset_first {
            s.push_str(&format!("unset {}\n", r.whitelist.join(" ")));
        }
        for (k, v) in &r.preset {
            s.push_str(&format!("{k}={}\n", quote(v)));
        }
        for f in &r.files {
            let fast = fast_path_ok(f);
            s.push_str(&format!("__dkms_fast={}\n", if fast { "1" } else { "''" }));
            s.push_str(&format!("__dkms_source {}\n", quote(&f.to_string_lossy())));
        }
        s.push_str("__dkms_dump\n)\n");
    }
    s
}

/// The name of an evaluation's temporary directory starts with this and
/// the evaluating process's PID.
const TEMP_PREFIX: &str = "dkms-source.";

/// Temporary directories of evaluations whose process is gone (killed
/// before it could remove them).
pub fn stale_temporaries() -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix(TEMP_PREFIX).and_then(|r| r.split_once('.')).map(|(pid, _)| pid.to_string());
            pid.and_then(|p| p.parse::<u32>().ok()).is_some_and(|p| !crate::fsutil::process_alive(p))
        })
        .map(|e| e.path())
        .collect()
}

/// Evaluate the requests in one bash process, whatever their files hold.
/// The files' stderr goes to ours, as with upstream.
pub fn source_by_bash(reqs: &[Request]) -> io::Result<Vec<Sourced>> {
    if reqs.is_empty() {
        return Ok(Vec::new());
    }
    // Where upstream's `safe_source` makes its `mktemp` ($TMPDIR or /tmp),
    // named after this process so that one killed meanwhile is swept up
    // (`stale_temporaries`).
    let dir = tempfile::Builder::new().prefix(&format!("{TEMP_PREFIX}{}.", std::process::id())).tempdir()?;
    let file = dir.path().join("script");
    crate::fsutil::create_exclusive(&file)?.write_all(script(reqs, dir.path()).as_bytes())?;
    let mut cmd = tools::command("bash", &[]);
    cmd.arg(&file).stderr(std::process::Stdio::inherit());
    let out = match super::untrusted::policy() {
        None => tools::output(&mut cmd)?,
        Some(super::untrusted::Policy::Warn(warn)) => {
            warn();
            tools::output(&mut cmd)?
        }
        Some(super::untrusted::Policy::Confine(run)) => {
            let files: Vec<PathBuf> = reqs.iter().flat_map(|r| r.files.iter().cloned()).collect();
            run(cmd, &files, dir.path())?
        }
    };
    let mut all = wire::decode(&out.stdout);
    for (i, (r, s)) in reqs.iter().zip(all.iter_mut()).enumerate() {
        if r.capture_stderr {
            s.stderr = std::fs::read(err_file(dir.path(), i)).unwrap_or_default();
        }
    }
    Ok(all)
}

/// The bash text that evaluates `req` (with a fixed place for its captured
/// stderr): what the conf cache keys on, so that any change to how a
/// request is evaluated invalidates cached results.
pub(crate) fn script_for_key(req: &Request) -> String {
    // The prelude is the same for every request: hashed once, by
    // `prelude()`'s caller; only the request's own part is returned.
    let all = script(std::slice::from_ref(req), std::path::Path::new("/nonexistent"));
    all[PRELUDE.len()..].to_string()
}

/// The shell functions every evaluation starts with.
pub(crate) fn prelude() -> &'static str {
    PRELUDE
}
