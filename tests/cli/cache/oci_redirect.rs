//! A registry backed by object storage (S3, GCS) answers a blob GET with a
//! 307 to another host, a signed URL: the pull follows it, and the
//! registry's `Authorization` is not sent to the other host. The stand-in:
//! a small loopback front (python3) before the real docker-registry asks
//! for basic credentials and redirects every blob GET to a second loopback
//! server (another port: another origin) that serves the blob from the
//! registry's storage and logs the `Authorization` it got. Only the
//! object store is a stand-in; registry, entry, pull and checks are real.
//! The front's log also shows the image manifest fetched once per pull,
//! not once per blob.

use super::faults::node;
use super::oci::{push, tools, Killed, Registry, FRONT_BASE, NEEDS};
use super::{fleet, keypair, Tree};
use crate::skip::skip_unless;
use std::fs;
use std::process::{Command, Stdio};

/// The front and the object store (after `FRONT_BASE`): `front_port
/// store_port registry_port storage log`. The front wants basic
/// `dkms:s3cret`; it redirects blob GETs to the store and passes the rest
/// to the registry.
const REDIRECT_FRONT: &str = r#"
front, store, upstream, storage, log = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def note(line):
    with open(log, "a") as f:
        f.write(line + "\n")
class Front(Base):
    def any(self):
        auth = self.headers.get("Authorization", "")
        path = self.path.split("?")[0]
        note(f"front {self.command} {path} {auth.split(' ')[0] or '-'}")
        body = self.body()
        if auth != "Basic ZGttczpzM2NyZXQ=":
            return self.reply(401, [("WWW-Authenticate", 'Basic realm="dkms-test"')], b"")
        if self.command == "GET" and "/blobs/sha256:" in path:
            hexd = path.rsplit("sha256:", 1)[1]
            where = f"http://127.0.0.1:{store}/bucket/{hexd}?X-Amz-Signature=s1gned"
            return self.reply(307, [("Location", where)], b"")
        r, data, keep = self.pass_on(upstream, body)
        self.reply(r.status, keep, data)
    do_GET = do_HEAD = any
class Store(Base):
    def do_GET(self):
        path, _, query = self.path.partition("?")
        note(f"store GET {path} {self.headers.get('Authorization', '-')}")
        hexd = path.rsplit("/", 1)[1]
        if query != "X-Amz-Signature=s1gned":
            return self.reply(403, [], b"")
        try:
            with open(f"{storage}/docker/registry/v2/blobs/sha256/{hexd[:2]}/{hexd}/data", "rb") as f:
                data = f.read()
        except OSError:
            return self.reply(404, [], b"")
        self.reply(200, [("Content-Type", "application/octet-stream")], data)
http.server.ThreadingHTTPServer.daemon_threads = True
s = http.server.ThreadingHTTPServer(("127.0.0.1", store), Store)
threading.Thread(target=s.serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", front), Front).serve_forever()
"#;

#[test]
fn oci_a_blob_redirected_to_another_host_gets_no_credentials() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let reg = Registry::plain(dir);
    let (code, out, err) = push(f, &format!("oci+http://127.0.0.1:{}/dkms/cache", reg.port), &[]);
    assert_eq!(code, 0, "push to the registry itself:\n{out}\n{err}");
    let (front, store) = (super::free_port(), super::free_port());
    let log = dir.join("front.log");
    let _front = Killed(
        Command::new("python3")
            .args([
                "-c",
                &[FRONT_BASE, REDIRECT_FRONT].concat(),
                &front.to_string(),
                &store.to_string(),
                &reg.port.to_string(),
            ])
            .arg(&reg.storage)
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3"),
    );
    for port in [front, store] {
        super::wait_for_port(port, 100);
    }
    let url = format!("oci+http://127.0.0.1:{front}/dkms/cache");
    let auth = super::basic_auth_file(dir, front);
    let with_auth = [("REGISTRY_AUTH_FILE", auth.to_str().expect("utf-8"))];

    let tree = Tree::new(&f.k, &keypair(&f.keys, "fleet"), true, &format!("binary_cache=\"{url}\"\n"));
    let (code, out, err) = tree.install(&with_auth);
    assert_eq!(code, 0, "install through the redirect:\n{out}\n{err}");
    assert_eq!(tree.makes(), 0, "no build:\n{out}\n{err}");
    assert!(out.contains(&format!("Using prebuilt modules from {url} ({})", &f.key[..12])), "{out}");
    assert!(!err.contains("Warning"), "{err}");
    assert_eq!(fs::read(f.builder.installed()).expect("builder's"), fs::read(tree.installed()).expect("node's"));

    let seen = fs::read_to_string(&log).expect("front log");
    let store_gets: Vec<&str> = seen.lines().filter(|l| l.starts_with("store GET ")).collect();
    assert!(!store_gets.is_empty(), "the blobs came from the store:\n{seen}");
    assert!(store_gets.iter().all(|l| l.ends_with(" -")), "no Authorization sent to the store:\n{seen}");
    assert!(
        seen.lines().any(|l| l.starts_with("front GET /v2/dkms/cache/blobs/sha256:") && l.ends_with(" Basic")),
        "the registry was asked for the blobs with the credentials:\n{seen}"
    );
    // One image manifest per pull of the entry's three blobs.
    let manifests =
        seen.lines().filter(|l| *l == format!("front GET /v2/dkms/cache/manifests/{} Basic", f.key).as_str()).count();
    assert!(manifests > 0, "{seen}");
    assert_eq!(store_gets.len(), 3 * manifests, "three blobs per image manifest fetched:\n{seen}");

    // Without the credentials the registry's 401 makes the node build.
    let nobody = dir.join("nobody");
    let nobody = nobody.to_str().expect("utf-8");
    let anonymous = [("REGISTRY_AUTH_FILE", nobody), ("HOME", nobody), ("XDG_RUNTIME_DIR", nobody)];
    super::faults::falls_back(f, &node(f, &url), &url, "HTTP 401", &anonymous);
}
