//! `read_conf` with upstream's one-slot cache (`last_mvka`): which file is
//! read, with which variables visible, and how its diagnostics print.

use super::dkms::{Dkms, Target};
use dkms_state::conf::{self, Conf};
use dkms_state::error::{Error, Kind, Result};
use std::path::{Path, PathBuf};

impl Dkms {
    /// The spec of a read of `file` for m/v on k/a.
    pub(crate) fn conf_spec(&self, x: Target, file: PathBuf, strict: bool) -> conf::Spec {
        let Target { m, v, k, a } = x;
        conf::Spec {
            module: m.into(),
            module_version: v.into(),
            kernelver: k.into(),
            arch: a.into(),
            file,
            conf_dir: self.ctx.conf_dir.clone(),
            kernel_source_dir: self.kernel_source_dir(k),
            kernel_config: self.kernel_config(k),
            dkms_tree: self.ctx.trees.dkms_tree.clone(),
            running_distribution: self.ctx.running_distribution.clone(),
            addon_modules_dir: self.ctx.addon_modules_dir.clone(),
            context: self.shell_context(),
            directives: self.opts.directives.clone(),
            strict,
            capture_stderr: false,
        }
    }

    /// Which file `read_conf` reads: an explicit path, else `-c`, else the
    /// tree's `source/dkms.conf`.
    fn conf_file(&self, m: &str, v: &str, file: Option<&Path>) -> PathBuf {
        file.map(Path::to_path_buf)
            .or_else(|| self.opts.conf.clone())
            .unwrap_or_else(|| self.ctx.trees.source_link(m, v).join("dkms.conf"))
    }

    /// `read_conf` / `read_conf_strict`: Ok(Some) on success, Ok(None) when
    /// the conf is invalid (its messages printed), Err(4) when missing; its
    /// stderr discarded when `quiet_stderr` is set.
    pub(crate) fn read_conf_quiet(
        &mut self,
        t: Target,
        file: Option<&Path>,
        strict: bool,
        quiet_stderr: bool,
    ) -> Result<Option<Conf>> {
        self.read_conf_as(t, file, strict, quiet_stderr, self.opts.force)
    }

    /// `read_conf_quiet` with `$force` as the operation has it (upstream's
    /// global, which an install forced by `modules_to_force_install` sets).
    fn read_conf_as(
        &mut self,
        t: Target,
        file: Option<&Path>,
        strict: bool,
        quiet_stderr: bool,
        force: bool,
    ) -> Result<Option<Conf>> {
        let Target { m, v, k, a } = t;
        let path = self.conf_file(m, v, file);
        if nix::unistd::access(&path, nix::unistd::AccessFlags::R_OK).is_err() {
            return Err(Error::die(
                Kind::ConfMissing,
                ["Could not locate dkms.conf file.".to_string(), format!("File: {} does not exist.", path.display())],
            ));
        }
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        let key = format!("{m}/{v}/{k}/{a}\0{}", canon.display());
        if let Some((cached, c)) = &self.last_conf {
            if *cached == key {
                let c = c.clone();
                if strict {
                    let (diags, ok) = conf::strict_diags(&c);
                    self.print_diags(&diags, quiet_stderr);
                    if !ok {
                        return Ok(None);
                    }
                }
                return Ok(Some(c));
            }
        }
        let mut spec = self.conf_spec(Target::new(m, v, k, a), path.clone(), strict);
        spec.context = self.shell_context_forced(force);
        // Upstream's `read_conf ... 2>/dev/null` silences the conf's own
        // commands too (a `find` of west-chamber's dkms.conf at remove).
        spec.capture_stderr = quiet_stderr;
        let read = conf::read(&spec).map_err(|e| Error::io(Kind::ConfUnreadable, "reading dkms.conf", e))?;
        self.print_diags(&read.diags, quiet_stderr);
        self.package_name = read.conf.package_name.clone();
        if !read.ok {
            return Ok(None);
        }
        self.last_conf = Some((key, read.conf.clone()));
        Ok(Some(read.conf))
    }

    fn print_diags(&self, diags: &[conf::Diag], quiet_stderr: bool) {
        for d in diags {
            if !d.stderr {
                self.ui.outln(&d.text);
            } else if !quiet_stderr {
                self.ui.errln(&d.text);
            }
        }
    }

    /// `read_conf_or_die` / `read_conf_strict_or_die`.
    pub(crate) fn read_conf_or_die(&mut self, t: Target, file: Option<&Path>, strict: bool) -> Result<Conf> {
        self.read_conf_or_die_as(t, file, strict, self.opts.force)
    }

    /// `read_conf_or_die` with `$force` as the operation has it.
    pub(crate) fn read_conf_or_die_as(
        &mut self,
        t: Target,
        file: Option<&Path>,
        strict: bool,
        force: bool,
    ) -> Result<Conf> {
        match self.read_conf_as(t, file, strict, false, force)? {
            Some(c) => Ok(c),
            None => {
                let shown = file.map(Path::to_path_buf).or_else(|| self.opts.conf.clone()).unwrap_or_default();
                Err(Error::die(
                    Kind::ConfInvalid,
                    [
                        "Bad conf file.".to_string(),
                        format!("File: {} does not represent a valid dkms.conf file.", shown.display()),
                    ],
                ))
            }
        }
    }
}
