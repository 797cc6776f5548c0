//! What the kernel makes of a module's licence (`ltdk`, not in upstream
//! dkms): the `license` of its `.modinfo`, its undefined symbols, and which
//! of those the kernel exports with `EXPORT_SYMBOL_GPL` according to its
//! `Module.symvers`. The kernel's own rules: `license_is_gpl_compatible`
//! (include/linux/license.h) decides the proprietary taint, and a module
//! that is not GPL-compatible cannot resolve GPL-only exports
//! (kernel/module/main.c, `resolve_symbol`).

use object::{Object, ObjectSymbol, ReadRef};
use std::collections::BTreeSet;
use std::io;
use std::path::Path;

/// The licences `license_is_gpl_compatible` accepts, exactly as spelled.
pub const GPL_COMPATIBLE: [&str; 6] =
    ["GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"];

/// `license_is_gpl_compatible`: an exact match, case included.
pub fn is_gpl_compatible(license: &str) -> bool {
    GPL_COMPATIBLE.contains(&license)
}

/// The facts ltdk reads from one module file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleFacts {
    /// The first `license=` of `.modinfo` (the one the kernel's
    /// `get_modinfo` returns); None without one.
    pub license: Option<String>,
    /// Undefined symbols of its symbol table, sorted.
    pub undefined: BTreeSet<String>,
}

/// Read the licence and undefined symbols of a module file (compressed
/// or not, through the one module reader `module_image`: a FIFO, a device
/// or a file past `MAX_MODULE` is an error, not a wait).
pub fn module_facts(file: &Path) -> io::Result<ModuleFacts> {
    let m = crate::module_image::Module::open(file)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
    let elf = m
        .elf()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{}: not an ELF object", file.display())))?;
    Ok(facts_of_elf(&elf))
}

/// `module_facts` of an ELF image in memory.
pub fn facts_of(image: &[u8]) -> Result<ModuleFacts, object::Error> {
    Ok(facts_of_elf(&object::File::parse(image)?))
}

fn facts_of_elf<'d, R: ReadRef<'d>>(elf: &object::File<'d, R>) -> ModuleFacts {
    let license = crate::module_file::modinfo_value(elf, "license");
    let undefined = elf
        .symbols()
        .filter(|s| s.is_undefined())
        .filter_map(|s| s.name().ok().filter(|n| !n.is_empty()).map(String::from))
        .collect();
    ModuleFacts { license, undefined }
}

/// The symbols a kernel's `Module.symvers` lists as GPL-only exports
/// (`EXPORT_SYMBOL_GPL`, and the `_GPL_FUTURE` of old kernels). Lines are
/// `crc<TAB>symbol<TAB>module<TAB>export type[<TAB>namespace]`.
pub fn gpl_only_exports(symvers: &Path) -> io::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(symvers)?;
    Ok(parse_symvers(&text))
}

fn parse_symvers(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (_crc, sym, _module, kind) = (f.next()?, f.next()?, f.next()?, f.next()?);
            kind.starts_with("EXPORT_SYMBOL_GPL").then(|| sym.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_list_exactly() {
        for l in GPL_COMPATIBLE {
            assert!(is_gpl_compatible(l));
        }
        for l in ["Proprietary", "gpl", "GPL v3", "MIT", "Dual BSD/GPL ", ""] {
            assert!(!is_gpl_compatible(l), "{l}");
        }
    }

    #[test]
    fn symvers_export_types() {
        let text = "0x1\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x2\tsysfs_x\tvmlinux\tEXPORT_SYMBOL_GPL\t\n\
                    0x3\told\tdrivers/a\tEXPORT_SYMBOL_GPL_FUTURE\n0x4\tns\tvmlinux\tEXPORT_SYMBOL_GPL\tNS\nbroken line\n";
        let got: Vec<String> = parse_symvers(text).into_iter().collect();
        assert_eq!(got, ["ns", "old", "sysfs_x"]);
    }

    #[test]
    fn not_elf_is_an_error() {
        assert!(facts_of(b"not an ELF file").is_err());
    }
}
