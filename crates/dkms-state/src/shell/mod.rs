//! Evaluating bash-sourced configuration (dkms.conf, framework.conf) the way
//! upstream's `safe_source` does, and the one place that decides how each
//! request is answered: a plain file in-process (`plain`, which gives
//! exactly what bash gives), else a proven-fresh cache entry (`memo`, when
//! the caller keeps one), else one bash process for all that is left
//! (`bash`). dkms.conf files are real bash, so bash remains the reference;
//! the other two only spare starting it.
//!
//! Below this facade each step is its own module, and none of them imports
//! upward: `request` (the types), `lex` (judging bash text), `wire` (the
//! format bash answers in, also what the cache stores), `bash` (running the
//! evaluation script), `memo` and `plain`.

mod bash;
mod lex;
pub mod memo;
pub mod plain;
mod request;
pub mod untrusted;
mod wire;

pub use bash::{quote, source_by_bash, stale_temporaries};
pub use request::{Array, Request, Sourced};

use std::io;
use std::path::PathBuf;

/// Evaluate the requests: plain files without bash (`plain`, which gives
/// exactly what bash would), the others in one bash process. The files'
/// stderr goes to ours, as with upstream. As with bash alone, a short
/// answer from bash yields fewer results (up to the first request it did
/// not answer).
pub fn source(reqs: &[Request]) -> io::Result<Vec<Sourced>> {
    evaluate(reqs, None)
}

/// `source`, using and filling the evaluation cache: `slots[i]` is where
/// the entry for `reqs[i]` lives (see `memo::slot`). Cached evaluations
/// need no bash at all; the others are still evaluated together by one
/// bash process, and remembered when their inputs allow it.
pub(crate) fn source_cached(reqs: &[Request], slots: &[PathBuf]) -> io::Result<Vec<Sourced>> {
    evaluate(reqs, Some(slots))
}

/// A request bash has to answer, with where to remember the answer (the
/// cache slot and the key of its inputs) when it may be cached.
struct Miss<'a> {
    at: usize,
    store: Option<(&'a PathBuf, [u8; 32])>,
}

/// The decision for each request: plain → cached → bash, in that order.
fn evaluate(reqs: &[Request], slots: Option<&[PathBuf]>) -> io::Result<Vec<Sourced>> {
    let mut got: Vec<Option<Sourced>> = vec![None; reqs.len()];
    let mut misses: Vec<Miss> = Vec::new();
    for (at, req) in reqs.iter().enumerate() {
        // A plain conf is evaluated directly: cheaper than hashing its
        // inputs for the cache.
        if let Some(s) = plain::evaluate(req) {
            got[at] = Some(s);
            continue;
        }
        let Some(slot) = slots.and_then(|s| s.get(at)) else {
            misses.push(Miss { at, store: None });
            continue;
        };
        let key = memo::key(req);
        match key.and_then(|k| memo::lookup(slot, &k)) {
            // The chain of files must be the one sourced now (the key
            // covers it; this is a cheap second check).
            Some(s) if s.after_file.iter().map(|(f, _)| f).eq(req.files.iter()) => got[at] = Some(s),
            _ => misses.push(Miss { at, store: key.map(|k| (slot, k)) }),
        }
    }
    let miss_reqs: Vec<Request> = misses.iter().map(|m| reqs[m.at].clone()).collect();
    for (m, s) in misses.iter().zip(bash::source_by_bash(&miss_reqs)?) {
        if let Some((slot, k)) = &m.store {
            memo::store(slot, k, &s);
        }
        got[m.at] = Some(s);
    }
    // A short answer from bash yields the results up to the first request
    // it did not answer.
    Ok(got.into_iter().map_while(|s| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Evaluate `text` through the facade in a request `plain` refuses, so
    /// that bash must answer it: a file sourced first needs a command
    /// substitution, and the value it sets proves that bash ran. `text`
    /// itself comes last, so its write-back is the final one (and takes the
    /// fork-free path, as a plain conf does in bash).
    fn eval_by_bash(text: &str, mut whitelist: Vec<&'static str>) -> Sourced {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker.conf");
        fs::write(&marker, "RAN_BY=$(echo bash)\n").unwrap();
        let f = dir.path().join("dkms.conf");
        fs::write(&f, text).unwrap();
        whitelist.push("RAN_BY");
        let r = Request {
            context: vec![("kernelver".into(), "6.1.0-1-amd64".into())],
            unset_first: true,
            files: vec![marker.clone(), f],
            whitelist,
            report: vec!["CLEAN"],
            ..Default::default()
        };
        assert!(plain::evaluate(&r).is_none(), "the request must be left to bash");
        let mut s = source(&[r]).unwrap().remove(0);
        assert_eq!(s.vars.remove("RAN_BY").and_then(|a| a.get(&0).cloned()).as_deref(), Some("bash"));
        assert_eq!(s.after_file.remove(0), (marker, Vec::new()));
        s
    }

    #[test]
    fn arrays_scalars_and_context() {
        let s = eval_by_bash(
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
        let s = eval_by_bash("x=1\nMAKE='a $kernelver  b $x'\nPACKAGE_NAME=\"p\r\"\n", vec!["MAKE", "PACKAGE_NAME"]);
        assert_eq!(s.scalar("MAKE"), "a 6.1.0-1-amd64 b ");
        assert_eq!(s.scalar("PACKAGE_NAME"), "p");
    }

    #[test]
    fn batches() {
        // One request answered in-process, one by bash, one without a file:
        // the answers come back in the order of the requests.
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, "V=a\n").unwrap();
        fs::write(&b, "V=$(echo b)\n").unwrap();
        let mk = |f: &PathBuf| Request {
            files: vec![f.clone()],
            whitelist: vec!["V"],
            unset_first: true,
            ..Default::default()
        };
        assert!(plain::evaluate(&mk(&a)).is_some());
        assert!(plain::evaluate(&mk(&b)).is_none());
        let out = source(&[mk(&a), mk(&b), mk(&dir.path().join("missing"))]).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].scalar("V"), "a");
        assert_eq!(out[1].scalar("V"), "b");
        assert_eq!(out[2].count("V"), 0);
        assert!(out[2].after_file.is_empty());
    }
}
