//! The one reader of kernel module files (status, verify, doctor, ltdk,
//! the binary cache): a module file — plain or compressed (`.ko.gz`,
//! `.ko.xz`, `.ko.zst`, recognised by their magic bytes as kmod does, any
//! number of concatenated streams) — opened as an untrusted file
//! (`untrusted::open_regular`: no FIFO, no device) and seen as its ELF image
//! through `object`'s `ReadCache`, which reads only the ranges asked for:
//! the ELF header, the section headers, `.modinfo`, the symbol table.
//!
//! A compressed module is never held whole in memory: one streaming pass
//! measures it (refusing it past `MAX_MODULE`) and keeps its first
//! `HEAD` and last `TAIL` bytes, where a real module's ELF header, section
//! headers, string tables and appended signature are, so most modules are
//! read in that one pass; a range elsewhere is decompressed again up to
//! where it ends. Every range is checked against the real length first, so
//! a crafted section size cannot make dkms allocate it.

use crate::untrusted::{self, Links};
use object::read::ReadCache;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The largest module dkms reads, decompressed: 256 MiB. Real modules are
/// far smaller (nvidia.ko, among the largest, is under 100 MiB with its
/// debug information); past this a file is no module but a
/// decompression bomb or garbage, and is refused rather than read.
pub const MAX_MODULE: u64 = 256 << 20;

/// Kept from the start and the end of a compressed module's stream.
const HEAD: usize = 1 << 20;
const TAIL: usize = 4 << 20;

/// The marker the kernel's `sign-file` appends (`MODULE_SIG_STRING`).
pub const SIG_MAGIC: &[u8] = b"~Module signature appended~\n";

/// Compression formats kmod recognises by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Zstd,
}

/// The compression of a file starting with `head` (None: not compressed).
pub fn compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else {
        None
    }
}

/// The compression of an open file, by its first bytes.
pub fn compression_of(f: &File) -> Option<Compression> {
    let mut head = [0u8; 8];
    let n = f.read_at(&mut head, 0).ok()?;
    compression(&head[..n])
}

/// One module file, open: its ELF image (the bytes before an appended
/// signature) and that signature.
pub struct Module {
    image: ReadCache<Image>,
    compression: Option<Compression>,
    /// The file ends with the signature marker.
    pub signed: bool,
    /// The appended signature (PKCS#7, DER), when it could be taken.
    pub signature: Option<Vec<u8>>,
}

impl Module {
    /// Open the module file `path` (links followed: installed modules may
    /// be links to the built copy).
    pub fn open(path: &Path) -> io::Result<Module> {
        Module::from_file(untrusted::open_regular(path, Links::Follow)?)
    }

    /// The module in `f`, a regular file opened for reading.
    pub fn from_file(f: File) -> io::Result<Module> {
        let compression = compression_of(&f);
        let (mut image, tail) = match compression {
            None => Image::plain(f)?,
            Some(c) => Image::packed(f, c)?,
        };
        let signed = tail.ends_with(SIG_MAGIC);
        let (body, sig) = split_signature(&tail);
        // The image ends where the signature starts.
        image.len -= (tail.len() - body.len()) as u64;
        Ok(Module { image: ReadCache::new(image), compression, signed, signature: sig.map(<[u8]>::to_vec) })
    }

    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// `len` bytes of the image at `off` (None: past its end).
    pub fn read_at(&self, off: u64, len: u64) -> Option<&[u8]> {
        object::ReadRef::read_bytes_at(&self.image, off, len).ok()
    }

    /// The image as an ELF object (None: it is none `object` can read).
    pub fn elf(&self) -> Option<object::File<'_, &ReadCache<Image>>> {
        object::File::parse(&self.image).ok()
    }
}

/// The ELF image and the appended signature of a module's bytes (or of
/// their last bytes: the signature is at the end).
pub fn split_signature(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    /// Size of `struct module_signature` (algo, hash, id_type, signer_len,
    /// key_id_len, 3 bytes padding, big-endian sig_len).
    const SIG_INFO: usize = 12;
    let Some(body) = bytes.strip_suffix(SIG_MAGIC) else { return (bytes, None) };
    let Some(info_at) = body.len().checked_sub(SIG_INFO) else { return (bytes, None) };
    let info = &body[info_at..];
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    let Some(sig_at) = info_at.checked_sub(sig_len) else { return (bytes, None) };
    (&body[..sig_at], Some(&body[sig_at..info_at]))
}

/// The decompressed bytes of a module file, read at any offset below
/// `len` (what `ReadCache` asks through `Read` and `Seek`).
pub struct Image {
    file: File,
    len: u64,
    pos: u64,
    packed: Option<Packed>,
}

/// What a compressed module keeps: the first and last bytes of its
/// stream, and the decoder of the last pass with its position.
struct Packed {
    compression: Compression,
    head: Vec<u8>,
    tail_at: u64,
    tail: Vec<u8>,
    decoder: Option<(Box<dyn Read>, u64)>,
}

impl Image {
    /// An uncompressed module; its last bytes: the signature trailer when
    /// there is one (two small reads: status reads many modules).
    fn plain(file: File) -> io::Result<(Image, Vec<u8>)> {
        let len = file.metadata()?.len();
        if len > MAX_MODULE {
            return Err(untrusted::too_large(MAX_MODULE));
        }
        let last = |n: u64| -> io::Result<Vec<u8>> {
            let n = n.min(len);
            let mut b = vec![0; n as usize];
            file.read_exact_at(&mut b, len - n)?;
            Ok(b)
        };
        // The marker and `struct module_signature` (12 bytes).
        let mut tail = last(SIG_MAGIC.len() as u64 + 12)?;
        if tail.len() == SIG_MAGIC.len() + 12 && tail.ends_with(SIG_MAGIC) {
            let sig_len = u32::from_be_bytes([tail[8], tail[9], tail[10], tail[11]]);
            if u64::from(sig_len) <= TAIL as u64 {
                tail = last(tail.len() as u64 + u64::from(sig_len))?;
            }
        }
        Ok((Image { file, len, pos: 0, packed: None }, tail))
    }

    /// A compressed module, measured in one streaming pass (refused past
    /// `MAX_MODULE`); its last bytes.
    fn packed(file: File, compression: Compression) -> io::Result<(Image, Vec<u8>)> {
        let mut dec = decoder(&file, compression)?;
        let (mut head, mut tail, mut len) = (Vec::new(), Vec::new(), 0u64);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match dec.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            len += n as u64;
            if len > MAX_MODULE {
                return Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    format!("decompresses to more than {MAX_MODULE} bytes"),
                ));
            }
            let chunk = &buf[..n];
            let h = (HEAD - head.len()).min(n);
            head.extend_from_slice(&chunk[..h]);
            tail.extend_from_slice(chunk);
            if tail.len() > 2 * TAIL {
                tail.drain(..tail.len() - TAIL);
            }
        }
        if tail.len() > TAIL {
            tail.drain(..tail.len() - TAIL);
        }
        let tail_at = len - tail.len() as u64;
        let packed = Packed { compression, head, tail_at, tail: tail.clone(), decoder: None };
        Ok((Image { file, len, pos: 0, packed: Some(packed) }, tail))
    }
}

/// The whole of the module file `path` (links followed), decompressed when
/// compressed, at most `MAX_MODULE` bytes: for what must rewrite a module
/// (re-signing), not for reading facts (`Module` keeps only its ends).
pub fn contents(path: &Path) -> io::Result<Vec<u8>> {
    let f = untrusted::open_regular(path, Links::Follow)?;
    match compression_of(&f) {
        None => untrusted::read_all_bounded(f, MAX_MODULE),
        Some(c) => untrusted::read_all_bounded(decoder(&f, c)?, MAX_MODULE),
    }
}

/// A decoder of `file` from its start, for every stream in it.
fn decoder(file: &File, c: Compression) -> io::Result<Box<dyn Read>> {
    // A second descriptor of the same open file: passes run one at a time,
    // each from offset 0.
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(0))?;
    let f = io::BufReader::new(f);
    Ok(match c {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(f)),
        // The decoder's own memory is bounded too (a crafted header may ask
        // for a dictionary of gigabytes).
        Compression::Xz => {
            let s = liblzma::stream::Stream::new_stream_decoder(MAX_MODULE, liblzma::stream::CONCATENATED)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(f, s))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(f)?),
    })
}

impl Packed {
    /// Bytes at `pos` from the kept ends, else from a decoder at or
    /// before `pos` (a new pass when the last one is past it).
    fn read_at(&mut self, file: &File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let from = |kept: &[u8], at: usize, buf: &mut [u8]| {
            let n = buf.len().min(kept.len() - at);
            buf[..n].copy_from_slice(&kept[at..at + n]);
            n
        };
        if pos < self.head.len() as u64 {
            return Ok(from(&self.head, pos as usize, buf));
        }
        if pos >= self.tail_at {
            return Ok(from(&self.tail, (pos - self.tail_at) as usize, buf));
        }
        let behind = matches!(&self.decoder, Some((_, at)) if *at <= pos);
        if !behind {
            self.decoder = Some((decoder(file, self.compression)?, 0));
        }
        let Some((dec, at)) = self.decoder.as_mut() else { return Ok(0) };
        let skipped = io::copy(&mut dec.by_ref().take(pos - *at), &mut io::sink())?;
        *at += skipped;
        if *at < pos {
            return Ok(0);
        }
        // Up to the tail, which is served from memory.
        let want = buf.len().min((self.tail_at - pos) as usize);
        let n = dec.read(&mut buf[..want])?;
        *at += n as u64;
        Ok(n)
    }
}

impl Read for Image {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = left.min(buf.len() as u64) as usize;
        let buf = &mut buf[..n];
        if buf.is_empty() {
            return Ok(0);
        }
        let n = match &mut self.packed {
            None => self.file.read_at(buf, self.pos)?,
            Some(p) => p.read_at(&self.file, self.pos, buf)?,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Image {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.len.checked_add_signed(d).ok_or(io::ErrorKind::InvalidInput)?,
            SeekFrom::Current(d) => self.pos.checked_add_signed(d).ok_or(io::ErrorKind::InvalidInput)?,
        };
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn splits_an_appended_signature() {
        let mut b = b"ELFBODY".to_vec();
        b.extend_from_slice(b"SIGNATURE");
        b.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        b.extend_from_slice(SIG_MAGIC);
        let (body, sig) = split_signature(&b);
        assert_eq!(body, b"ELFBODY");
        assert_eq!(sig, Some(&b"SIGNATURE"[..]));
        assert_eq!(split_signature(b"plain"), (&b"plain"[..], None));
        // A length past the start is no signature.
        let mut bad = vec![0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 200];
        bad.extend_from_slice(SIG_MAGIC);
        assert!(split_signature(&bad).1.is_none());
    }

    /// Any range of a compressed image reads as the plain bytes do, in any
    /// order (passes restart behind, continue ahead), the signature
    /// stripped; past the end is refused without allocating.
    #[test]
    fn reads_ranges_of_a_compressed_image() {
        let t = tempfile::tempdir().unwrap();
        let mut plain: Vec<u8> = (0..(HEAD + TAIL + 3_000_000)).map(|i| (i * 7 % 251) as u8).collect();
        let body_len = plain.len();
        plain.extend_from_slice(b"SIG");
        plain.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
        plain.extend_from_slice(SIG_MAGIC);
        let p = t.path().join("m.ko.zst");
        std::fs::write(&p, zstd::encode_all(&plain[..], 1).unwrap()).unwrap();
        let m = Module::open(&p).unwrap();
        assert_eq!(m.compression(), Some(Compression::Zstd));
        assert!(m.signed);
        assert_eq!(m.signature.as_deref(), Some(&b"SIG"[..]));
        for (off, len) in
            [(HEAD as u64 + 500_000, 1000), (10, 100), (HEAD as u64 + 10, 2_000_000), (HEAD as u64 - 5, 10)]
        {
            let got = m.read_at(off, len).unwrap();
            assert_eq!(got, &plain[off as usize..(off + len) as usize], "{off}");
        }
        let last = body_len as u64 - 100;
        assert_eq!(m.read_at(last, 100).unwrap(), &plain[last as usize..body_len]);
        assert!(m.read_at(last, 101).is_none());
        assert!(m.read_at(0, 0x7fff_ffff_ffff).is_none());
    }

    /// An uncompressed module's signature is taken from its trailer.
    #[test]
    fn reads_the_signature_of_a_plain_module() {
        let t = tempfile::tempdir().unwrap();
        let mut b = b"ELFBODY".to_vec();
        b.extend_from_slice(b"SIGNATURE");
        b.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        b.extend_from_slice(SIG_MAGIC);
        let p = t.path().join("m.ko");
        std::fs::write(&p, &b).unwrap();
        let m = Module::open(&p).unwrap();
        assert!(m.signed);
        assert_eq!(m.signature.as_deref(), Some(&b"SIGNATURE"[..]));
        assert_eq!(m.read_at(0, 7).unwrap(), b"ELFBODY");
        assert!(m.read_at(0, 8).is_none(), "the image ends where the signature starts");
        std::fs::write(&p, b"tiny").unwrap();
        let m = Module::open(&p).unwrap();
        assert!(!m.signed && m.signature.is_none());
        assert_eq!(m.read_at(0, 4).unwrap(), b"tiny");
    }

    /// A small file decompressing past the limit is refused, in bounded
    /// memory; two concatenated streams are one module.
    #[test]
    fn refuses_a_bomb_and_reads_concatenated_streams() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("bomb.ko.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=(MAX_MODULE >> 20) {
            enc.write_all(&zeros).unwrap();
        }
        enc.finish().unwrap();
        let e = Module::open(&p).err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge, "{e}");
        let two = t.path().join("two.ko.xz");
        let mut bytes = liblzma::encode_all(&b"first,"[..], 0).unwrap();
        bytes.extend(liblzma::encode_all(&b"second"[..], 0).unwrap());
        std::fs::write(&two, bytes).unwrap();
        let m = Module::open(&two).unwrap();
        assert_eq!(m.read_at(0, 12).unwrap(), b"first,second");
    }
}
