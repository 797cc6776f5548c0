//! Output capture for work done off the main thread: while a capture is
//! active on a thread, everything dkms would print there — its own text, JSON
//! lines, progress dots, the inherited output of children — is recorded in
//! order, with the stream each piece was meant for, so that it can be
//! replayed later exactly where the serial run would have printed it (a
//! parallel autoinstall prints the same bytes as upstream's one-by-one loop).

use std::cell::RefCell;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Where a recorded piece of output was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Recorded output, in the order it was written.
pub type Chunks = Vec<(Stream, Vec<u8>)>;

/// A recording; clones share it (the progress-dots thread and the readers of
/// a child's pipes write into the recording of the thread they serve).
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Chunks>>);

impl Capture {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append, merging with the previous piece when it went to the same stream.
    pub fn push(&self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match v.last_mut() {
            Some((s, b)) if *s == stream => b.extend_from_slice(bytes),
            _ => v.push((stream, bytes.to_vec())),
        }
    }

    /// Everything recorded so far (the recording is emptied).
    pub fn take(&self) -> Chunks {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// The recording active on this thread, if any.
pub fn current() -> Option<Capture> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Run `f` with `capture` active on this thread (the previous one, if any,
/// is restored afterwards).
pub fn scoped<R>(capture: Option<Capture>, f: impl FnOnce() -> R) -> R {
    let saved = CURRENT.with(|c| c.replace(capture));
    let r = f();
    CURRENT.with(|c| *c.borrow_mut() = saved);
    r
}

/// Record `bytes` if a capture is active on this thread; false when the
/// caller must write them itself.
pub fn write(stream: Stream, bytes: &[u8]) -> bool {
    match current() {
        Some(c) => {
            c.push(stream, bytes);
            true
        }
        None => false,
    }
}

/// Copy a child's pipe into the recording until it closes (run on a thread
/// per pipe; pieces of stdout and stderr keep the order they arrived in).
pub(crate) fn pump(capture: Capture, stream: Stream, mut pipe: impl Read) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => capture.push(stream, &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_and_merges() {
        let c = Capture::new();
        assert!(!write(Stream::Stdout, b"x"));
        scoped(Some(c.clone()), || {
            assert!(write(Stream::Stdout, b"a"));
            assert!(write(Stream::Stdout, b"b"));
            assert!(write(Stream::Stderr, b"e"));
            let inner = Capture::new();
            scoped(Some(inner.clone()), || write(Stream::Stdout, b"nested"));
            assert_eq!(inner.take(), vec![(Stream::Stdout, b"nested".to_vec())]);
            assert!(write(Stream::Stdout, b"c"));
        });
        assert!(current().is_none());
        assert_eq!(
            c.take(),
            vec![(Stream::Stdout, b"ab".to_vec()), (Stream::Stderr, b"e".to_vec()), (Stream::Stdout, b"c".to_vec())]
        );
    }
}
