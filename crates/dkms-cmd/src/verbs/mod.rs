//! One file per dkms action with its `run`, which checks the arguments and
//! the state upstream checks, then calls `ops`. The actions' table entries
//! (name, binary, flags, man text) are in `dkms_cli::table::verbs`.

pub(crate) mod add;
pub(crate) mod autoinstall;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod cache_deb;
pub(crate) mod cache_kmm;
pub(crate) mod doctor;
pub(crate) mod enroll;
pub(crate) mod generate_mok;
pub(crate) mod install;
pub(crate) mod kernel_postinst;
pub(crate) mod kernel_preinst;
pub(crate) mod kernel_prerm;
pub(crate) mod kernel_queue;
pub(crate) mod kernel_trigger;
pub(crate) mod ldtarball;
pub(crate) mod log;
pub(crate) mod ltdk;
pub(crate) mod matching;
pub(crate) mod mktarball;
pub(crate) mod mktree;
pub(crate) mod remove;
pub(crate) mod sign;
pub(crate) mod status;
pub(crate) mod unbuild;
pub(crate) mod uninstall;
pub(crate) mod unmktree;
