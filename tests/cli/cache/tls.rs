//! HTTPS sources: a node installs from an HTTPS server on 127.0.0.1 whose
//! certificate a test CA signed, trusting it through the system's
//! certificate store (`SSL_CERT_FILE` is how the platform verifier lets a
//! test stand in for /etc/ssl), directly and through an HTTP CONNECT proxy
//! taken from `https_proxy`; a certificate of an unknown issuer falls back
//! to a local build. Proves the TLS stack (rustls, ring, the platform
//! verifier) and proxy support of the trimmed ureq build.

use super::faults::{falls_back, node};
use super::{fleet, keypair, Fleet, Tree};
use crate::skip::skip_unless;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `python3 -m http.server` over TLS: directory, port, certificate, key.
const HTTPS_SERVER: &str = r#"
import functools, http.server, ssl, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
d, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=d))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

/// An HTTP CONNECT proxy: port, a log of the request lines it served.
const CONNECT_PROXY: &str = r#"
import socket, sys, threading
port, log = int(sys.argv[1]), sys.argv[2]
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def handle(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = c.recv(4096)
        if not data:
            return
        buf += data
    line = buf.split(b"\r\n")[0].decode()
    with open(log, "a") as f:
        f.write(line + "\n")
    method, target = line.split(" ")[:2]
    if method != "CONNECT":
        c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        c.close()
        return
    host, p = target.rsplit(":", 1)
    up = socket.create_connection((host, int(p)))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(c, up), daemon=True).start()
    pipe(up, c)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"#;

/// A python3 child, killed when dropped.
struct Py(Child);

impl Py {
    /// Run `script` with `args` and wait until it listens on `port`.
    fn start(script: &str, args: &[String], port: u16) -> Py {
        let child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        super::wait_for_port(port, 100);
        Py(child)
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA `name` under `dir`: (certificate, key).
pub(super) fn ca(dir: &Path, name: &str) -> (String, String) {
    let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name}"),
        "-keyout",
        &key,
        "-out",
        &cert,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    (cert, key)
}

/// A server certificate for 127.0.0.1 signed by `ca`: (certificate, key).
pub(super) fn server_cert(dir: &Path, ca: &(String, String)) -> (String, String) {
    let p = |n: &str| dir.join(n).display().to_string();
    let (cert, key, csr, ext) = (p("server.pem"), p("server.key"), p("server.csr"), p("server.ext"));
    fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &csr]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca.0,
        "-CAkey",
        &ca.1,
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        &cert,
        "-extfile",
        &ext,
    ]);
    (cert, key)
}

/// The fleet's entry served over HTTPS; (server, its URL, the trusted CA,
/// another CA).
fn https(f: &Fleet, dir: &Path) -> (Py, String, String, String) {
    let trusted = ca(dir, "test-ca");
    let other = ca(dir, "other-ca");
    let (cert, key) = server_cert(dir, &trusted);
    let port = super::free_port();
    let args = [f.cache.display().to_string(), port.to_string(), cert, key];
    let server = Py::start(HTTPS_SERVER, &args, port);
    (server, format!("https://127.0.0.1:{port}/"), trusted.0, other.0)
}

/// The node installs from `url` without building.
fn installs_over_https(f: &Fleet, url: &str, env: &[(&str, &str)]) -> Tree {
    let tree = Tree::new(&f.k, &keypair(&f.keys, "fleet"), true, &format!("binary_cache=\"{url}\"\n"));
    let (code, out, err) = tree.install(env);
    assert_eq!(code, 0, "install over {url}:\n{out}\n{err}");
    assert_eq!(tree.makes(), 0, "no build:\n{out}\n{err}");
    assert!(out.contains(&format!("Using prebuilt modules from {url} ")), "{out}");
    assert!(!err.contains("Warning"), "{err}");
    tree
}

#[test]
fn https_with_the_system_store_directly_and_through_a_proxy() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (_server, url, trusted, other) = https(f, scratch.path());
    installs_over_https(f, &url, &[("SSL_CERT_FILE", &trusted)]);

    let log: PathBuf = scratch.path().join("proxy.log");
    let port = super::free_port();
    let _proxy = Py::start(CONNECT_PROXY, &[port.to_string(), log.display().to_string()], port);
    let proxy = format!("http://127.0.0.1:{port}");
    installs_over_https(f, &url, &[("SSL_CERT_FILE", &trusted), ("https_proxy", &proxy)]);
    let seen = fs::read_to_string(&log).unwrap_or_default();
    let host = url.trim_start_matches("https://").trim_end_matches('/');
    assert!(seen.lines().any(|l| l == format!("CONNECT {host} HTTP/1.1")), "the proxy carried it: {seen:?}");

    // A server certificate the store does not vouch for: a local build.
    let tree = node(f, &url);
    falls_back(f, &tree, &url, "certificate", &[("SSL_CERT_FILE", &other)]);
}
