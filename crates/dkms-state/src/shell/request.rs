//! What one evaluation of bash-sourced configuration asks for (`Request`)
//! and what it gives back (`Sourced`): the types shared by every way of
//! answering it (in-process, cached, bash).

use std::collections::BTreeMap;
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
