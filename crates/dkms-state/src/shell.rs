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
//! Plainer files still (assignments of quoted words and known variables)
//! need no bash at all: `confstatic` evaluates them first.

use crate::tools;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

/// One evaluation: a chain of files sourced in order (cumulatively).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Plain shell variables visible while sourcing (upstream's own
    /// variables such as `kernelver`, `arch`, `kernel_source_dir`).
    pub context: Vec<(String, String)>,
    /// Unset the whitelist before the first file (`read_conf` does,
    /// `read_framework_conf` does not).
    pub unset_first: bool,
    /// Values the whitelisted variables start with (framework defaults).
    pub preset: Vec<(String, String)>,
    /// Files to source, in order; missing ones are skipped.
    pub files: Vec<PathBuf>,
    /// The variables that come back.
    pub whitelist: Vec<&'static str>,
    /// Variables whose presence is reported after each file (for upstream's
    /// deprecation warnings, printed per sourced file).
    pub report: Vec<&'static str>,
    /// Capture what the files print on stderr (into `Sourced::stderr`)
    /// instead of passing it through, so the caller can place it exactly
    /// where upstream's output has it.
    pub capture_stderr: bool,
}

/// A variable as bash holds it: a sparse array (a scalar is index 0).
pub type Array = BTreeMap<usize, String>;

/// What came back from one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sourced {
    /// Whitelisted variables that are set at the end.
    pub vars: BTreeMap<String, Array>,
    /// For each file that existed: the `report` names set after it.
    pub after_file: Vec<(PathBuf, Vec<String>)>,
    /// What the files printed on stderr, when captured.
    pub stderr: Vec<u8>,
}

impl Sourced {
    /// `${NAME[i]}`
    pub fn get(&self, name: &str, i: usize) -> &str {
        self.vars.get(name).and_then(|a| a.get(&i)).map(String::as_str).unwrap_or("")
    }
    /// `$NAME` (index 0)
    pub fn scalar(&self, name: &str) -> &str {
        self.get(name, 0)
    }
    /// The array, empty if unset.
    pub fn array(&self, name: &str) -> Array {
        self.vars.get(name).cloned().unwrap_or_default()
    }
    /// `${#NAME[@]}`
    pub fn count(&self, name: &str) -> usize {
        self.vars.get(name).map_or(0, BTreeMap::len)
    }
}

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
/// when the file's text is plain enough (`confcache::static_only`: no
/// function definitions, `set`, `shopt`, `trap`, `eval`, sourcing, ...) and
/// no functions come from the environment, so that the only lines of
/// upstream's `set | grep ^DKMS_DIRECTIVE` can come from variables named
/// DKMS_DIRECTIVE* (checked in bash), and listing the indices of an indexed
/// array without `$(eval echo ...)` gives the same words. The shell options
/// and IFS are checked in bash after sourcing; anything else takes
/// upstream's own code path.
fn fast_path_ok(file: &std::path::Path) -> bool {
    static NO_ENV_FUNCTIONS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let no_env_functions = *NO_ENV_FUNCTIONS
        .get_or_init(|| !std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("BASH_FUNC_")));
    no_env_functions
        && std::fs::read(file)
            .ok()
            .and_then(|t| String::from_utf8(t).ok())
            .is_some_and(|t| crate::confcache::static_only(&t))
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

/// Evaluate the requests: plain files without bash (`confstatic`, which
/// gives exactly what bash would), the others in one bash process. The
/// files' stderr goes to ours, as with upstream. As with bash alone, a
/// short answer from bash yields fewer results (up to the first request
/// it did not answer).
pub fn source(reqs: &[Request]) -> io::Result<Vec<Sourced>> {
    let mut plain: Vec<Option<Sourced>> = reqs.iter().map(crate::confstatic::evaluate).collect();
    let rest: Vec<Request> = reqs.iter().zip(&plain).filter(|(_, p)| p.is_none()).map(|(r, _)| r.clone()).collect();
    let mut by_bash = source_by_bash(&rest)?.into_iter();
    Ok(plain.iter_mut().map_while(|p| p.take().or_else(|| by_bash.next())).collect())
}

/// Evaluate the requests in one bash process, whatever their files hold.
pub fn source_by_bash(reqs: &[Request]) -> io::Result<Vec<Sourced>> {
    if reqs.is_empty() {
        return Ok(Vec::new());
    }
    let dir = tempfile::Builder::new().prefix("dkms-source.").tempdir()?;
    let file = dir.path().join("script");
    std::fs::File::create(&file)?.write_all(script(reqs, dir.path()).as_bytes())?;
    let mut cmd = tools::command("bash", &[]);
    cmd.arg(&file).stderr(std::process::Stdio::inherit());
    let out = tools::output(&mut cmd)?;
    let mut all = parse(&out.stdout);
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
pub fn script_for_key(req: &Request) -> String {
    // The prelude is the same for every request: hashed once, by
    // `prelude()`'s caller; only the request's own part is returned.
    let all = script(std::slice::from_ref(req), std::path::Path::new("/nonexistent"));
    all[PRELUDE.len()..].to_string()
}

/// The shell functions every evaluation starts with.
pub fn prelude() -> &'static str {
    PRELUDE
}

/// `s` in the format the evaluation script writes (for the conf cache;
/// `decode` reads it back). stderr is not part of it.
pub fn encode(s: &Sourced) -> Vec<u8> {
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
pub fn decode(data: &[u8]) -> Vec<Sourced> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn eval(text: &str, whitelist: Vec<&'static str>) -> Sourced {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("dkms.conf");
        fs::write(&f, text).unwrap();
        let r = Request {
            context: vec![("kernelver".into(), "6.1.0-1-amd64".into())],
            unset_first: true,
            files: vec![f],
            whitelist,
            report: vec!["CLEAN"],
            ..Default::default()
        };
        source(&[r]).unwrap().remove(0)
    }

    #[test]
    fn arrays_scalars_and_context() {
        let s = eval(
            "PACKAGE_NAME=foo\nBUILT_MODULE_NAME[2]=b\nMAKE=\"make K=$kernelver\"\nOTHER=x\nCLEAN=true\n",
            vec!["PACKAGE_NAME", "BUILT_MODULE_NAME", "MAKE", "CLEAN"],
        );
        assert_eq!(s.scalar("PACKAGE_NAME"), "foo");
        assert_eq!(s.get("BUILT_MODULE_NAME", 2), "b");
        assert_eq!(s.count("BUILT_MODULE_NAME"), 1);
        assert_eq!(s.scalar("MAKE"), "make K=6.1.0-1-amd64");
        assert!(!s.vars.contains_key("OTHER"));
        assert_eq!(s.after_file.len(), 1);
        assert_eq!(s.after_file[0].1, vec!["CLEAN".to_string()]);
    }

    #[test]
    fn second_expansion_and_cr() {
        // A literal $x survives the first sourcing and is expanded by the second.
        // Unquoted word splitting in the write-back collapses blanks.
        let s = eval("x=1\nMAKE='a $kernelver  b $x'\nPACKAGE_NAME=\"p\r\"\n", vec!["MAKE", "PACKAGE_NAME"]);
        assert_eq!(s.scalar("MAKE"), "a 6.1.0-1-amd64 b ");
        assert_eq!(s.scalar("PACKAGE_NAME"), "p");
    }

    #[test]
    fn batches() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, "V=a\n").unwrap();
        fs::write(&b, "V=b\n").unwrap();
        let mk = |f: &PathBuf| Request {
            files: vec![f.clone()],
            whitelist: vec!["V"],
            unset_first: true,
            ..Default::default()
        };
        let out = source(&[mk(&a), mk(&b), mk(&dir.path().join("missing"))]).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].scalar("V"), "a");
        assert_eq!(out[1].scalar("V"), "b");
        assert_eq!(out[2].count("V"), 0);
        assert!(out[2].after_file.is_empty());
    }
}
