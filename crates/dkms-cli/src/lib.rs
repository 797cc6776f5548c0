//! The command-line side shared by every dkms binary: the verb and flag
//! tables, upstream's argument grammar, the start-up prologue, output and
//! error reporting, and the git-style `dkms` front-end.
#![forbid(unsafe_code)]

pub mod args;
pub mod complete;
pub mod ctx;
pub mod early;
pub mod frontend;
pub mod live;
pub mod table;
pub mod ui;
pub mod versort;

pub use ctx::Ctx;
pub use table::Verb;

/// The release string `dkms --version` prints (upstream: `dkms-3.4.3`).
pub const RELEASE_STRING: &str = concat!("dkms-", env!("CARGO_PKG_VERSION"));

/// Panics exit 255: Rust's default 101 is upstream's "pre_install failed".
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        // No `Ui` reaches a panic hook; stderr is written as `Ui::err` would.
        ui::panic_line("dkms: internal error, please report it");
        std::process::exit(dkms_state::error::Kind::Panic.code_or(255).into());
    }));
}
