//! OCI registries as cache sources and push targets: Debian's
//! docker-registry (the CNCF distribution registry) started by each test
//! on 127.0.0.1 with its own config and storage, stopped when the test
//! ends. The builder pushes its real module with `cache push --to
//! oci+http://…` and through `binary_cache_push`; skopeo reads our media
//! types back; a node whose make fails installs from the registry; each
//! fault (a flipped byte in a stored blob, a stopped registry, a 401
//! without credentials on an HTTPS registry with htpasswd, an entry signed
//! by a key the node does not trust, a token service refusing anonymous
//! requests) falls back with one warning; the bearer token flow runs
//! against a token-auth front (python3) before a registry; `cache status`
//! (`cache gate`) fails before the push and passes after it.

use super::faults::{falls_back, node};
use super::tls::{ca, server_cert};
use super::{fleet, keypair, node_installs_from, Fleet, Tree, M, V};
use crate::skip::skip_unless;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// docker-registry, skopeo and htpasswd are installed.
pub(super) fn tools() -> bool {
    ["docker-registry", "skopeo", "htpasswd"]
        .iter()
        .all(|t| Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success()))
}

pub(super) const NEEDS: &str =
    "needs root, openssl, kernel headers, docker-registry, skopeo and htpasswd (scripts/deps.sh)";

/// A registry on 127.0.0.1, storage under its directory; stopped when
/// dropped.
pub(crate) struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub storage: PathBuf,
}

impl Registry {
    /// Start one in `dir` with `http_extra` under `http:` and `top_extra`
    /// at the top of its config.
    fn start(dir: &Path, http_extra: &str, top_extra: &str) -> Registry {
        let port = super::free_port();
        let storage = dir.join("storage");
        let config = dir.join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: dkms-test\n{http_extra}{top_extra}",
            storage.display()
        );
        fs::write(&config, yaml).expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("registry.log")).expect("log"))
            .spawn()
            .expect("docker-registry");
        super::wait_for_port(port, 200);
        Registry { child: Some(child), port, storage }
    }

    pub(super) fn plain(dir: &Path) -> Registry {
        fs::create_dir_all(dir).expect("mkdir");
        Registry::start(dir, "", "")
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop the registry with SIGSTOP: the kernel still accepts
    /// connections, nothing answers them (continued before it is killed).
    fn freeze(&self) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(Command::new("kill").args(["-STOP", &pid]).status().expect("kill").success());
    }

    /// The file of the blob `digest` in the registry's storage.
    fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256");
        self.storage.join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `dkms cache push M/V --to to` on the builder, with `env`.
pub(super) fn push(f: &Fleet, to: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    f.builder.dkms(&["cache", "push", &format!("{M}/{V}"), "-k", &f.k, "--to", to], env)
}

/// A plain-HTTP registry holding the fleet's entry; its source word.
fn pushed(f: &Fleet, dir: &Path) -> (Registry, String) {
    let reg = Registry::plain(dir);
    let url = format!("oci+http://127.0.0.1:{}/dkms/cache", reg.port);
    let (code, out, err) = push(f, &url, &[]);
    assert_eq!(code, 0, "push:\n{out}\n{err}");
    assert!(out.contains(&format!("Binary cache entry {} written to {url}", &f.key[..12])), "{out}");
    (reg, url)
}

/// skopeo's view of the image manifest tagged with the fleet's key.
fn inspect(f: &Fleet, reg: &Registry) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://127.0.0.1:{}/dkms/cache:{}", reg.port, f.key))
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("manifest JSON")
}

#[test]
fn oci_push_inspect_and_install() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (reg, url) = pushed(f, scratch.path());
    let m = inspect(f, &reg);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json", "{m}");
    assert_eq!(m["artifactType"], "application/vnd.dkms.cache.entry.v1", "{m}");
    assert_eq!(m["config"]["mediaType"], "application/vnd.oci.empty.v1+json", "{m}");
    let types: Vec<&str> =
        m["layers"].as_array().expect("layers").iter().filter_map(|l| l["mediaType"].as_str()).collect();
    assert_eq!(
        types,
        [
            "application/vnd.dkms.cache.manifest.v1+json",
            "application/vnd.dkms.cache.signature.v1",
            "application/vnd.dkms.cache.archive.v1.tar+zstd"
        ]
    );
    // The manifest layer is the entry's manifest (made anew by the push:
    // the same key and files, a new time).
    let layer = fs::read(reg.blob(m["layers"][0]["digest"].as_str().expect("digest"))).expect("blob");
    let layer: serde_json::Value = serde_json::from_slice(&layer).expect("manifest layer");
    let built = fs::read(f.cache.join(format!("{}.json", f.key))).expect("entry manifest");
    let built: serde_json::Value = serde_json::from_slice(&built).expect("entry manifest");
    assert_eq!((&layer["key"], &layer["files"]), (&built["key"], &built["files"]));
    node_installs_from(f, &url);

    // binary_cache_push (here DKMS_BINARY_CACHE_PUSH) names a registry too;
    // blobs it has are not sent again and the tag is rewritten.
    let (code, out, err) = f
        .builder
        .dkms(&["cache", "push", &format!("{M}/{V}"), "-k", &f.k], &[("DKMS_BINARY_CACHE_PUSH", url.as_str())]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("written to {url}")), "{out}");
}

#[test]
fn oci_a_flipped_byte_in_a_stored_blob_falls_back() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (reg, url) = pushed(f, scratch.path());
    let m = inspect(f, &reg);
    let blob = reg.blob(m["layers"][2]["digest"].as_str().expect("digest"));
    let mut b = fs::read(&blob).expect("blob");
    let i = b.len() / 2;
    b[i] ^= 0x20;
    fs::write(&blob, b).expect("write");
    falls_back(f, &node(f, &url), &url, "does not match the digest", &[]);
}

#[test]
fn oci_a_stopped_registry_falls_back_in_time() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (mut reg, url) = pushed(f, scratch.path());
    reg.stop();
    let started = std::time::Instant::now();
    falls_back(f, &node(f, &url), &url, "connection refused", &[("DKMS_BINARY_CACHE_TIMEOUT", "2")]);
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
}

/// A registry that accepts connections and never answers (SIGSTOP): the
/// gate says so within the timeout (2 s here, no build to wait for), an
/// install falls back with one warning.
#[test]
fn oci_a_frozen_registry_times_out() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (reg, url) = pushed(f, scratch.path());
    reg.freeze();
    let timeout = [("DKMS_BINARY_CACHE_TIMEOUT", "2")];
    let tree = node(f, &url);
    let (code, _, err) = tree.dkms(&["add", "-m", M, "-v", V], &[]);
    assert_eq!(code, 0, "{err}");
    let started = std::time::Instant::now();
    let (code, out, err) = tree.dkms(&["cache", "status", "-k", &f.k, "--cache", &url], &timeout);
    let took = started.elapsed();
    assert_eq!(code, 28, "{out}\n{err}");
    assert!(out.contains("missing") && out.contains("timed out"), "{out}");
    assert!(took < std::time::Duration::from_secs(10), "the gate took {took:?} with a 2 s timeout");
    falls_back(f, &tree, &url, "timed out", &timeout);
}

#[test]
fn oci_an_entry_signed_by_another_key_falls_back() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (_reg, url) = pushed(f, scratch.path());
    // The node trusts only the intruder's certificate: the fleet's
    // signature is another key's.
    let (_, intruder) = keypair(&f.keys, "intruder");
    let tree = Tree::new(
        &f.k,
        &keypair(&f.keys, "fleet"),
        false,
        &format!("binary_cache=\"{url}\"\nbinary_cache_certificate=\"{}\"\n", intruder.display()),
    );
    falls_back(f, &tree, &url, "bad signature", &[]);
}

/// An HTTPS registry with htpasswd basic auth (user `dkms`, password
/// `s3cret`), its certificate signed by a CA trusted through
/// SSL_CERT_FILE: pushing and pulling need the credentials of an auth file.
#[test]
fn oci_over_https_with_basic_auth() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let trusted = ca(dir, "registry-ca");
    let (cert, key) = server_cert(dir, &trusted);
    let htpasswd = dir.join("htpasswd");
    let out = Command::new("htpasswd").args(["-Bbn", "dkms", "s3cret"]).output().expect("htpasswd");
    assert!(out.status.success());
    fs::write(&htpasswd, out.stdout).expect("write");
    let reg = Registry::start(
        dir,
        &format!("  tls:\n    certificate: {cert}\n    key: {key}\n"),
        &format!("auth:\n  htpasswd:\n    realm: dkms-test\n    path: {}\n", htpasswd.display()),
    );
    let url = format!("oci://127.0.0.1:{}/dkms/cache", reg.port);
    let auth = dir.join("auth.json");
    let entry = format!("{{\"auths\":{{\"127.0.0.1:{}\":{{\"auth\":\"ZGttczpzM2NyZXQ=\"}}}}}}", reg.port);
    fs::write(&auth, entry).expect("write");
    let nobody = dir.join("nobody");
    let (ca_file, auth_file, home) =
        (trusted.0.as_str(), auth.to_str().expect("utf-8"), nobody.to_str().expect("utf-8"));
    let anonymous =
        [("SSL_CERT_FILE", ca_file), ("REGISTRY_AUTH_FILE", home), ("HOME", home), ("XDG_RUNTIME_DIR", home)];
    let with_auth = [("SSL_CERT_FILE", ca_file), ("REGISTRY_AUTH_FILE", auth_file)];

    let (code, out, err) = push(f, &url, &anonymous);
    assert_ne!(code, 0, "a push without credentials fails:\n{out}\n{err}");
    assert!(err.contains("HTTP 401"), "{err}");
    let (code, out, err) = push(f, &url, &with_auth);
    assert_eq!(code, 0, "push with credentials:\n{out}\n{err}");

    falls_back(f, &node(f, &url), &url, "HTTP 401", &anonymous);
    let tree = Tree::new(&f.k, &keypair(&f.keys, "fleet"), true, &format!("binary_cache=\"{url}\"\n"));
    let (code, out, err) = tree.install(&with_auth);
    assert_eq!(code, 0, "install with credentials:\n{out}\n{err}");
    assert_eq!(tree.makes(), 0, "no build:\n{out}\n{err}");
    assert!(out.contains(&format!("Using prebuilt modules from {url} ({})", &f.key[..12])), "{out}");
    assert_eq!(fs::read(f.builder.installed()).expect("builder's"), fs::read(tree.installed()).expect("node's"));
}

/// `cache status` (and `cache gate`), the rollout gate: exit 28 naming the
/// module while the registry lacks its entry, 0 once the builder has
/// pushed; it installs and builds nothing.
#[test]
fn oci_cache_gate_holds_a_rollout_until_the_push() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let reg = Registry::plain(scratch.path());
    let url = format!("oci+http://127.0.0.1:{}/dkms/cache", reg.port);
    let tree = Tree::new(&f.k, &keypair(&f.keys, "fleet"), true, "");
    let (code, _, err) = tree.dkms(&["add", "-m", M, "-v", V], &[]);
    assert_eq!(code, 0, "{err}");
    // `cache status` (no module named cache here) and `cache gate` alike.
    let status = |word: &str, json: bool| {
        let mut args = vec!["cache", word, "-k", &f.k, "--cache", &url];
        if json {
            args.push("--json");
        }
        tree.dkms(&args, &[])
    };
    let (code, out, err) = status("gate", false);
    assert_eq!(code, 28, "missing before the push:\n{out}\n{err}");
    let (code, out, err) = status("status", false);
    assert_eq!(code, 28, "missing before the push:\n{out}\n{err}");
    assert!(out.contains(&format!("{M}/{V}, {}, ", f.k)) && out.contains("missing"), "{out}");
    assert!(
        err.contains(&format!("lacks 1 of 1 AUTOINSTALL modules for {}", f.k)) && err.contains(&format!("{M}/{V}"))
    );
    let (code, out, err) = push(f, &url, &[]);
    assert_eq!(code, 0, "push:\n{out}\n{err}");
    let (code, out, err) = status("gate", false);
    assert_eq!(code, 0, "cached after the push:\n{out}\n{err}");
    let (code, out, err) = status("status", true);
    assert_eq!(code, 0, "cached after the push:\n{out}\n{err}");
    let rec: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["type"] == "cache-status")
        .unwrap_or_else(|| panic!("no cache-status record:\n{out}"));
    assert_eq!((rec["module"].as_str(), rec["cached"].as_bool()), (Some(M), Some(true)), "{rec}");
    assert_eq!((rec["key"].as_str(), rec["source"].as_str()), (Some(f.key.as_str()), Some(url.as_str())), "{rec}");
    assert_eq!(tree.makes(), 0);
    assert!(!tree.installed().exists(), "status installs nothing");
    let (_, st, _) = tree.dkms(&["status", "-m", M], &[]);
    assert!(st.contains(": added"), "{st}");
}

/// The start of the python3 HTTP fronts the tests put before a registry:
/// the imports and a handler class `Base` with `reply(status, headers,
/// body)` (with a Content-Length, and no body to a HEAD), `body()` (the
/// request's body) and `pass_on(upstream, body)`: the request sent on to
/// 127.0.0.1:`upstream` without its `Authorization`; (response, its body,
/// its headers less the framing ones). A front is this and its own part.
pub(super) const FRONT_BASE: &str = r#"
import http.client, http.server, sys, threading
class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""
    def pass_on(self, upstream, body):
        c = http.client.HTTPConnection("127.0.0.1", upstream)
        hs = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "content-length")}
        c.request(self.command, self.path, body=body, headers=hs)
        r = c.getresponse()
        data = r.read()
        keep = [(k, v) for k, v in r.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        return r, data, keep
"#;

/// A token-auth front for a registry (after `FRONT_BASE`): port, registry
/// port, log. It answers `GET /token` with a token only to basic
/// `dkms:s3cret`; any other request without `Bearer t0k` gets a 401 Bearer
/// challenge; the rest it passes on (a HEAD with the registry's own
/// Content-Length).
const TOKEN_FRONT: &str = r#"
port, upstream, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
class Front(Base):
    def any(self):
        auth = self.headers.get("Authorization", "")
        with open(log, "a") as f:
            f.write(f"{self.command} {self.path.split('?')[0]} {auth.split(' ')[0]}\n")
        body = self.body()
        if self.path.startswith("/token"):
            if auth == "Basic ZGttczpzM2NyZXQ=":
                return self.reply(200, [("Content-Type", "application/json")], b'{"token": "t0k"}')
            return self.reply(401, [], b"")
        if auth != "Bearer t0k":
            ch = f'Bearer realm="http://127.0.0.1:{port}/token",service="test",scope="repository:dkms/cache:pull,push"'
            return self.reply(401, [("WWW-Authenticate", ch)], b"")
        r, data, keep = self.pass_on(upstream, body)
        if self.command == "HEAD":
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.end_headers()
        else:
            self.reply(r.status, keep, data)
http.server.ThreadingHTTPServer.daemon_threads = True
for m in ("GET", "HEAD", "POST", "PUT", "PATCH"):
    setattr(Front, "do_" + m, Front.any)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Front).serve_forever()
"#;

/// The token flow: a 401 Bearer challenge, the realm asked with the basic
/// credentials of the auth file, the request retried with the token.
#[test]
fn oci_token_flow() {
    skip_unless!(fleet().is_some() && tools(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let reg = Registry::plain(dir);
    let port = super::free_port();
    let log = dir.join("front.log");
    let _front = Killed(
        Command::new("python3")
            .args(["-c", &[FRONT_BASE, TOKEN_FRONT].concat(), &port.to_string(), &reg.port.to_string()])
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3"),
    );
    super::wait_for_port(port, 100);
    let url = format!("oci+http://127.0.0.1:{port}/dkms/cache");
    let auth = super::basic_auth_file(dir, port);
    let nobody = dir.join("nobody");
    let nobody = nobody.to_str().expect("utf-8");
    let anonymous = [("REGISTRY_AUTH_FILE", nobody), ("HOME", nobody), ("XDG_RUNTIME_DIR", nobody)];
    let with_auth = [("REGISTRY_AUTH_FILE", auth.to_str().expect("utf-8"))];

    let (code, out, err) = push(f, &url, &anonymous);
    assert_ne!(code, 0, "a push without credentials fails:\n{out}\n{err}");
    assert!(err.contains("HTTP 401 from the token service"), "{err}");
    let (code, out, err) = push(f, &url, &with_auth);
    assert_eq!(code, 0, "push with credentials:\n{out}\n{err}");
    let seen = fs::read_to_string(&log).unwrap_or_default();
    assert!(seen.lines().any(|l| l == "GET /token Basic"), "the realm was asked with basic auth:\n{seen}");
    assert!(seen.lines().any(|l| l.starts_with("PUT /v2/dkms/cache/manifests/") && l.ends_with(" Bearer")), "{seen}");

    falls_back(f, &node(f, &url), &url, "HTTP 401 from the token service", &anonymous);
    let tree = Tree::new(&f.k, &keypair(&f.keys, "fleet"), true, &format!("binary_cache=\"{url}\"\n"));
    let (code, out, err) = tree.install(&with_auth);
    assert_eq!(code, 0, "install with a token:\n{out}\n{err}");
    assert_eq!(tree.makes(), 0, "no build:\n{out}\n{err}");
    assert_eq!(fs::read(f.builder.installed()).expect("builder's"), fs::read(tree.installed()).expect("node's"));
}

/// A child killed when dropped (also when the test fails).
pub(super) struct Killed(pub(super) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The layer of the image skopeo copied into `out` (a `dir:` copy) holds
/// the module under /opt/lib/modules/K, modules.dep naming it, and bin/cp.
fn kmm_layer_holds_the_module(f: &Fleet, out: &Path) {
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).expect("manifest")).expect("json");
    let digest = m["layers"][0]["digest"].as_str().expect("layer");
    let layer = out.join(digest.trim_start_matches("sha256:"));
    let list = Command::new("tar").arg("tzf").arg(&layer).output().expect("tar");
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    // Members are written `./opt/...`, as dkms's tarballs are.
    let has = |p: &str| list.lines().any(|l| l.trim_start_matches("./") == p);
    let ko = format!("opt/lib/modules/{}/updates/dkms/{M}.ko", f.k);
    assert!(has(&ko), "{ko} in the layer:\n{list}");
    assert!(has("bin/cp"), "bin/cp in the layer:\n{list}");
    let dep = Command::new("tar")
        .arg("xzOf")
        .arg(&layer)
        .arg(format!("./opt/lib/modules/{}/modules.dep", f.k))
        .output()
        .expect("tar");
    let dep = String::from_utf8_lossy(&dep.stdout).into_owned();
    assert!(dep.lines().any(|l| l.starts_with(&format!("updates/dkms/{M}.ko:"))), "modules.dep:\n{dep}");
}

/// `cache kmm` writes a KMM ModuleLoader image to an OCI layout directory
/// and to a registry; skopeo copies each back.
#[test]
fn oci_kmm_image_to_a_layout_and_a_registry() {
    skip_unless!(fleet().is_some() && tools() && Path::new("/bin/busybox").is_file(), NEEDS);
    let f = fleet().expect("fleet");
    let scratch = tempfile::tempdir().expect("tempdir");
    let layout = scratch.path().join("layout");
    let to = format!("oci-layout:{}", layout.display());
    let (code, out, err) = f.builder.dkms(&["cache", "kmm", &format!("{M}/{V}"), "-k", &f.k, "--to", &to], &[]);
    assert_eq!(code, 0, "cache kmm:\n{out}\n{err}");
    let copy = |src: &str, out: &Path| {
        let o = Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false", src])
            .arg(format!("dir:{}", out.display()))
            .output()
            .expect("skopeo");
        assert!(o.status.success(), "skopeo copy {src}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let out1 = scratch.path().join("copy1");
    copy(&format!("oci:{}:{}", layout.display(), f.k), &out1);
    kmm_layer_holds_the_module(f, &out1);

    let reg = Registry::plain(&scratch.path().join("reg-dir"));
    let url = format!("oci+http://127.0.0.1:{}/kmm/{M}", reg.port);
    let (code, out, err) = f.builder.dkms(&["cache", "kmm", &format!("{M}/{V}"), "-k", &f.k, "--to", &url], &[]);
    assert_eq!(code, 0, "cache kmm to a registry:\n{out}\n{err}");
    let out2 = scratch.path().join("copy2");
    copy(&format!("docker://127.0.0.1:{}/kmm/{M}:{}", reg.port, f.k), &out2);
    kmm_layer_holds_the_module(f, &out2);
}
