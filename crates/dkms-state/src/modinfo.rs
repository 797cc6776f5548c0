//! Module version facts as upstream's `get_module_verinfo` and
//! `compare_module_version` read them from `modinfo` output. The `.modinfo`
//! ELF section is read in-process by the one module reader (`module_image`,
//! decompressing `.ko.gz`/`.xz`/`.zst` when the host's kmod could), its
//! strings rendered the way kmod's `modinfo` prints them and parsed by the
//! same code as real `modinfo` output; the `modinfo` program is run only
//! when a regular file is anything unusual (never on a FIFO, a device or a
//! file too large to be a module: those read as modinfo's failure, empty).
//! Results are remembered per file (and its inode, size and times) within a
//! run.

use crate::module_image::{Compression, Module};
use crate::untrusted::{self, Links};
use crate::{tools, version};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// `version` and `srcversion` (or the obsolete checksum) of a module file;
/// empty strings when modinfo fails or the fields are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerInfo {
    pub version: String,
    pub srcversion: String,
}

/// What identifies one state of a file: (dev, ino, size, mtime, ctime).
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

fn stamp_of(m: &std::fs::Metadata) -> Stamp {
    (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec())
}

fn memo() -> &'static Mutex<HashMap<PathBuf, (Stamp, VerInfo)>> {
    static MEMO: OnceLock<Mutex<HashMap<PathBuf, (Stamp, VerInfo)>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// `get_module_verinfo FILE`.
pub fn verinfo(file: &Path) -> VerInfo {
    let known = memo().lock().ok().and_then(|m| m.get(file).cloned());
    if let Some((s, v)) = known {
        if std::fs::metadata(file).is_ok_and(|m| stamp_of(&m) == s) {
            return v;
        }
    }
    match in_process(file) {
        Err(Unusual::NotAModule) => VerInfo::default(),
        Ok((st, v)) => {
            // Remembered with the identity of the file that was read: a
            // replaced or rewritten file is read again.
            if let Ok(mut m) = memo().lock() {
                m.insert(file.to_path_buf(), (st, v.clone()));
            }
            v
        }
        Err(Unusual::AskKmod) => verinfo_program(file),
    }
}

/// Why `get_module_verinfo` was not worked out in-process.
#[derive(Debug, PartialEq, Eq)]
enum Unusual {
    /// Anything kmod's `modinfo` may see differently: it decides.
    AskKmod,
    /// A FIFO, a device, a file past `MAX_MODULE`: no module, and not given
    /// to `modinfo` either (it would wait on the FIFO, or decompress the
    /// bomb in memory). Its versions are empty, as modinfo's failure gives.
    NotAModule,
}

/// `get_module_verinfo FILE` by running `modinfo FILE`.
pub(crate) fn verinfo_program(file: &Path) -> VerInfo {
    let mut c = tools::command("modinfo", &[]);
    c.arg(file);
    let out = match tools::output(&mut c) {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(_) => String::new(),
    };
    parse(&out)
}

/// The loop of `get_module_verinfo` over `modinfo` output: `read -ra`
/// splits on bash's default IFS (space, tab, newline); the last `version:`
/// and `srcversion:` lines win; the checksum is the word after the version.
fn parse(out: &str) -> VerInfo {
    let (mut ver, mut checksum, mut srcver) = (String::new(), String::new(), String::new());
    for line in out.split('\n') {
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        match words.next() {
            Some("version:") => {
                ver = words.next().unwrap_or_default().to_string();
                checksum = words.next().unwrap_or_default().to_string();
            }
            Some("srcversion:") => srcver = words.next().unwrap_or_default().to_string(),
            _ => {}
        }
    }
    VerInfo { version: ver, srcversion: if srcver.is_empty() { checksum } else { srcver } }
}

/// Can `modinfo` here read files of this compression (`modinfo -V` lists
/// `+ZLIB`, `+XZ`, `+ZSTD`)? Asked at most once per run, and only when a
/// compressed module is met. Also false when there is no `modinfo`.
fn kmod_supports(c: Compression) -> bool {
    static FEATURES: OnceLock<String> = OnceLock::new();
    let f = FEATURES.get_or_init(|| {
        let mut cmd = tools::command("modinfo", &[]);
        cmd.arg("-V");
        tools::output(&mut cmd).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    });
    let word = match c {
        Compression::Gzip => "+ZLIB",
        Compression::Xz => "+XZ",
        Compression::Zstd => "+ZSTD",
    };
    f.split_ascii_whitespace().any(|w| w == word)
}

/// `modinfo` is on PATH (without it upstream reads empty versions, which the
/// program fallback reproduces).
fn have_modinfo() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| tools::available("modinfo"))
}

/// `get_module_verinfo` without running `modinfo` (with the identity of
/// the file read), or why not.
fn in_process(file: &Path) -> Result<(Stamp, VerInfo), Unusual> {
    use Unusual::*;
    if !have_modinfo() {
        return Err(AskKmod);
    }
    let path = file.to_str().ok_or(AskKmod)?;
    if path.contains('\n') {
        return Err(AskKmod);
    }
    let f = untrusted::open_regular(file, Links::Follow).map_err(|e| not_a_module(&e))?;
    let meta = f.metadata().map_err(|_| AskKmod)?;
    if crate::module_image::compression_of(&f).is_some_and(|c| !kmod_supports(c)) {
        return Err(AskKmod);
    }
    let m = Module::from_file(f).map_err(|e| not_a_module(&e))?;
    let section = modinfo_section(&m).ok_or(AskKmod)?;
    Ok((stamp_of(&meta), parse(&render(&section).ok_or(AskKmod)?)))
}

/// An open or read that failed because the file is no module at all.
fn not_a_module(e: &std::io::Error) -> Unusual {
    use std::io::ErrorKind::{FileTooLarge, InvalidInput};
    if matches!(e.kind(), InvalidInput | FileTooLarge) {
        Unusual::NotAModule
    } else {
        Unusual::AskKmod
    }
}

/// kmod's `modinfo` output for the section's strings (after the
/// `filename:` line, which cannot matter here): `key:<pad>value` per
/// string, padded with `printf "%s:%-*s%s" key (15 - len(key)) ""`.
fn render(section: &[u8]) -> Option<String> {
    let mut out = String::new();
    // kmod_elf_get_strings: strings separated by runs of NULs.
    for s in section.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let s = std::str::from_utf8(s).ok()?;
        if s.contains(['\n', '\r']) {
            return None;
        }
        // A string without '=' prints "(null)"; leave that to kmod.
        let (key, value) = s.split_once('=')?;
        if key == "parm" || key == "parmtype" {
            continue;
        }
        let pad = 15i64 - key.len() as i64;
        out.push_str(key);
        out.push(':');
        out.push_str(&" ".repeat(pad.unsigned_abs() as usize));
        out.push_str(value);
        out.push('\n');
    }
    Some(out)
}

fn uint(b: &[u8], off: usize, len: usize, big: bool) -> Option<u64> {
    let s = b.get(off..off + len)?;
    let mut v = 0u64;
    for i in 0..len {
        let byte = if big { s[i] } else { s[len - 1 - i] };
        v = (v << 8) | u64::from(byte);
    }
    Some(v)
}

/// The contents of the one section named `.modinfo` (None: not an ELF file
/// kmod would read the same way, no or several such sections).
fn modinfo_section(img: &Module) -> Option<Vec<u8>> {
    let eh = img.read_at(0, 64).or_else(|| img.read_at(0, 52))?;
    if !eh.starts_with(b"\x7fELF") {
        return None;
    }
    let wide = match eh[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match eh[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let u = |off, len| uint(eh, off, len, big);
    let (shoff, shentsize, shnum, shstrndx) = if wide {
        (u(0x28, 8)?, u(0x3a, 2)?, u(0x3c, 2)?, u(0x3e, 2)?)
    } else {
        (u(0x20, 4)?, u(0x2e, 2)?, u(0x30, 2)?, u(0x32, 2)?)
    };
    let want = if wide { 64 } else { 40 };
    if shnum == 0 || shentsize != want || shstrndx >= shnum {
        return None;
    }
    // Every range is checked against the image's real length before it is
    // read: a crafted size is refused, never allocated.
    let table = img.read_at(shoff, shnum.checked_mul(shentsize)?)?;
    // (name, type, offset, size) of section i
    let sh = |i: u64| -> Option<(u64, u64, u64, u64)> {
        let b = usize::try_from(i * shentsize).ok()?;
        if wide {
            Some((
                uint(table, b, 4, big)?,
                uint(table, b + 4, 4, big)?,
                uint(table, b + 24, 8, big)?,
                uint(table, b + 32, 8, big)?,
            ))
        } else {
            Some((
                uint(table, b, 4, big)?,
                uint(table, b + 4, 4, big)?,
                uint(table, b + 16, 4, big)?,
                uint(table, b + 20, 4, big)?,
            ))
        }
    };
    let (_, _, stroff, strsize) = sh(shstrndx)?;
    let names = img.read_at(stroff, strsize)?;
    let mut found = None;
    for i in 1..shnum {
        let (name, kind, off, size) = sh(i)?;
        let name = names.get(usize::try_from(name).ok()?..)?;
        let end = name.iter().position(|&b| b == 0)?;
        if &name[..end] != b".modinfo" {
            continue;
        }
        // SHT_NOBITS has no contents in the file.
        if found.is_some() || kind == 8 {
            return None;
        }
        found = Some((off, size));
    }
    let (off, size) = found?;
    img.read_at(off, size).map(<[u8]>::to_vec)
}

/// Result of `compare_module_version A B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`: same version and same srcversion
    Same,
    /// `=`: same version, different srcversion
    SameVersion,
    /// `>`: A is newer
    Newer,
    /// `<`: A is older
    Older,
}

/// `compare_module_version A B` on already read facts.
pub fn compare(a: &VerInfo, b: &VerInfo) -> Cmp {
    if a.version == b.version {
        if a.srcversion == b.srcversion {
            Cmp::Same
        } else {
            Cmp::SameVersion
        }
    } else if version::compare(&a.version, &b.version).is_gt() {
        Cmp::Newer
    } else {
        Cmp::Older
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modinfo() {
        let v = parse("filename: /x.ko\nversion:        1.0 ABC\nsrcversion:     DEADBEEF\n");
        assert_eq!(v, VerInfo { version: "1.0".into(), srcversion: "DEADBEEF".into() });
        let v = parse("version: 2.0 CHK\n");
        assert_eq!(v.srcversion, "CHK");
        assert_eq!(compare(&v, &VerInfo { version: "10.0".into(), ..Default::default() }), Cmp::Older);
    }

    /// In-process reading agrees with the real `modinfo` on objects with
    /// assorted `.modinfo` sections, plain and compressed (needs gcc and
    /// modinfo; compressed variants need the compressors).
    #[test]
    // Test code: builds its fixtures with gcc and compressors directly.
    #[allow(clippy::disallowed_methods)]
    fn agrees_with_modinfo_program() {
        if !tools::available("gcc") || !have_modinfo() {
            eprintln!("NOTE: gcc or modinfo missing; skipping the comparison with modinfo");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let cases: [&[&str]; 9] = [
            &["version=1.0", "srcversion=ABCDEF0123456789ABCDEF01"],
            &["version=2.0 CHECKSUM", "license=GPL"],
            &["version=1.0", "srcversion=AAA", "version=3.1", "srcversion=BBB"],
            &["license=GPL", "parm=debug:int", "parmtype=debug:int"],
            &["version=", "srcversion=X"],
            &["version=1.0\tTAB", "my version=7"],
            &["abcdefghijklmno=1", "version=4.2-rc1+dkms"],
            &["name=a", "version=5.0  SPACED  WORDS"],
            &["version=9", "srcversion="],
        ];
        let mut files = Vec::new();
        for (n, strings) in cases.iter().enumerate() {
            let mut c = String::new();
            for (i, st) in strings.iter().rev().enumerate() {
                c.push_str(&format!(
                    "static const char s{i}[] __attribute__((section(\".modinfo\"), used, aligned(1))) = \"{st}\";\n"
                ));
            }
            let src = dir.path().join(format!("m{n}.c"));
            std::fs::write(&src, c).unwrap();
            let ko = dir.path().join(format!("m{n}.ko"));
            let ok = std::process::Command::new("gcc").arg("-c").arg(&src).arg("-o").arg(&ko).status().unwrap();
            assert!(ok.success());
            for (tool, args, ext) in
                [("xz", ["-k", "-f"], "xz"), ("zstd", ["-q", "-k"], "zst"), ("gzip", ["-k", "-f"], "gz")]
            {
                if tools::available(tool) {
                    let st = std::process::Command::new(tool).args(args).arg(&ko).status().unwrap();
                    assert!(st.success());
                    files.push(dir.path().join(format!("m{n}.ko.{ext}")));
                }
            }
            files.push(ko);
        }
        let junk = dir.path().join("junk.ko");
        std::fs::write(&junk, "not an ELF file\n").unwrap();
        files.push(junk);
        files.push(dir.path().join("missing.ko"));
        for f in &files {
            assert_eq!(verinfo(f), verinfo_program(f), "{}", f.display());
        }
        // The plain ones really were read in-process.
        assert!(in_process(&dir.path().join("m0.ko")).is_ok());
        assert_eq!(in_process(&dir.path().join("junk.ko")).err(), Some(Unusual::AskKmod));
    }

    #[test]
    fn renders_like_kmod() {
        let s = b"\0\0version=1.0\0\0srcversion=ABC\0parm=x:int\0version=2.0 CK\0";
        let text = render(s).unwrap();
        assert_eq!(text, "version:        1.0\nsrcversion:     ABC\nversion:        2.0 CK\n");
        assert_eq!(parse(&text), VerInfo { version: "2.0".into(), srcversion: "ABC".into() });
        assert!(render(b"version\0").is_none());
    }
}
