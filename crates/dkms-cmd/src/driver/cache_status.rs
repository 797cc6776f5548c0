//! `dkms cache status`: ours (the rollout gate, `cache gate`) unless the
//! DKMS tree has a module named cache, whose status upstream's reading of
//! the same words (`status` of module "cache") shows, unchanged. The
//! front-end runs `dkms cache status ...` as dkms-cache (`args::Words::
//! is_cache_status`); `dkms-cache status`, named by its own binary, is
//! always ours.

use dkms_cli::table::{Verb, CACHE};
use dkms_cli::Ctx;
use std::ffi::OsString;
use std::path::Path;

/// The command line of upstream's `status` for `dkms cache status ...`
/// given to `verb` as `argv` (the front-end took the `cache` word off
/// the front), when upstream's meaning is the one to keep.
pub(super) fn upstreams(ctx: &Ctx, verb: &Verb, argv: &[OsString]) -> Option<Vec<OsString>> {
    let a = &ctx.args;
    let ours = *verb == CACHE && a.action.is_none_or(|v| *v == CACHE) && a.words == ["status"];
    // Run as dkms-cache itself (argv0, as `run_dkms` tells verbs apart),
    // not through the front-end: not upstream's command line at all.
    let direct = Path::new(&ctx.argv0).file_name().is_some_and(|n| *n == *CACHE.binary);
    let has_module_cache = std::fs::symlink_metadata(ctx.trees.dkms_tree.join("cache")).is_ok();
    if !ours || direct || !has_module_cache {
        return None;
    }
    // As the front-end hands upstream's reading to dkms-status: the action
    // word taken out, the module word where it was (first).
    let at = dkms_cli::args::find_actions(argv).into_iter().find(|(_, v)| v.name == "status")?.0;
    let mut out = vec![OsString::from("cache")];
    out.extend(argv.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, w)| w.clone()));
    Some(out)
}
