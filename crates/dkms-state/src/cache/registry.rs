//! Talking to a registry (the distribution API's repository reference,
//! requests with a body) as container tools do: credentials from
//! `$REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json` or
//! `~/.docker/config.json` (`auths` → base64 `user:password`), answered to
//! a `401` by HTTP basic auth or by the token flow (`WWW-Authenticate:
//! Bearer realm=…,service=…,scope=…` → GET the realm, with the basic
//! credentials if any → a token for the retried request).

use super::http::{describe_error, Miss};
use std::io::Read;
use std::path::Path;
use ureq::http;

/// `oci://HOST[:PORT]/REPO` or `oci+http://HOST:PORT/REPO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// `HOST[:PORT]`, as credentials are filed under.
    pub host: String,
    pub repo: String,
}

impl Reference {
    /// The reference a `binary_cache` word names, if it is one.
    pub fn parse(word: &str) -> Option<Result<Reference, String>> {
        let (scheme, rest) = if let Some(r) = word.strip_prefix("oci://") {
            ("https", r)
        } else {
            ("http", word.strip_prefix("oci+http://")?)
        };
        let (host, repo) = rest.trim_end_matches('/').split_once('/').unwrap_or((rest, ""));
        // The distribution spec's repository name grammar, lower-case
        // path components of [a-z0-9] joined by `.`, `_`, `__`, `-`; the
        // host has no user part, query or fragment.
        let repo_ok = !repo.is_empty()
            && repo.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                    && c.as_bytes()[0].is_ascii_alphanumeric()
                    && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
            });
        let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        Some(if repo_ok && host_ok {
            Ok(Reference { scheme, host: host.to_string(), repo: repo.to_string() })
        } else {
            Err(format!("{word} is not an OCI reference (oci://HOST[:PORT]/REPO)"))
        })
    }

    /// `SCHEME://HOST/v2/REPO/` + `path`.
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}://{}/v2/{}/{path}", self.scheme, self.host, self.repo)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.scheme == "https" { "oci" } else { "oci+http" };
        write!(f, "{scheme}://{}/{}", self.host, self.repo)
    }
}

/// What a request carries.
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// A transport error as a miss.
fn failed(e: &ureq::Error) -> Miss {
    Miss::Failed(describe_error(e))
}

/// The largest auth file and token response read.
const MAX_AUTH: u64 = 1 << 20;

/// Requests to one repository, with the `Authorization` the last
/// challenge asked for.
pub(super) struct Session {
    pub(super) reference: Reference,
    agent: ureq::Agent,
    authorization: Option<String>,
    /// `user:password`, looked up at the first challenge.
    credentials: Option<Option<String>>,
}

type Response = http::Response<ureq::Body>;

impl Session {
    pub(super) fn new(reference: Reference, agent: ureq::Agent) -> Session {
        Session { reference, agent, authorization: None, credentials: None }
    }

    /// `method url` with `headers` and `body`; a `401` is answered once
    /// (basic or token) and the request sent again.
    pub(super) fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Body>,
    ) -> Result<Response, Miss> {
        let resp = self.once(method, url, headers, body)?;
        if resp.status().as_u16() != 401 {
            return Ok(resp);
        }
        let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        match self.answer(&challenge)? {
            Some(authorization) => self.authorization = Some(authorization),
            None => return Ok(resp),
        }
        self.once(method, url, headers, body)
    }

    fn once(&self, method: &str, url: &str, headers: &[(&str, &str)], body: Option<Body>) -> Result<Response, Miss> {
        let mut b = http::Request::builder().method(method).uri(url);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        // Credentials go to the registry only, never to where an upload
        // `Location` (or a redirect) points elsewhere.
        let own = format!("{}://{}/", self.reference.scheme, self.reference.host);
        if let Some(a) = self.authorization.as_ref().filter(|_| url.starts_with(&own)) {
            b = b.header("Authorization", a);
        }
        let bad = |e: http::Error| Miss::Failed(format!("{url}: {e}"));
        let r = match body {
            None => self.agent.run(b.body(()).map_err(bad)?),
            Some(Body::Bytes(bytes)) => self.agent.run(b.body(bytes).map_err(bad)?),
            Some(Body::File(p)) => {
                let f = std::fs::File::open(p).map_err(|e| Miss::Failed(format!("{}: {e}", p.display())))?;
                self.agent.run(b.body(f).map_err(bad)?)
            }
        };
        r.map_err(|e| failed(&e))
    }

    fn credentials(&mut self) -> Option<String> {
        let r = &self.reference;
        self.credentials.get_or_insert_with(|| lookup(&r.host, &r.repo)).clone()
    }

    /// The `Authorization` that answers `challenge`, if we have one.
    fn answer(&mut self, challenge: &str) -> Result<Option<String>, Miss> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(self.credentials().map(|c| format!("Basic {}", crate::base64::encode(c.as_bytes()))));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let params = parse_params(params);
        let get = |n: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
        let Some(realm) = get("realm").filter(|r| r.starts_with("https://") || r.starts_with("http://")) else {
            return Ok(None);
        };
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for n in ["service", "scope"] {
            if let Some(v) = get(n) {
                url.push_str(&format!("{sep}{n}={}", percent(v)));
                sep = '&';
            }
        }
        let mut b = http::Request::builder().method("GET").uri(&url);
        if let Some(c) = self.credentials() {
            b = b.header("Authorization", format!("Basic {}", crate::base64::encode(c.as_bytes())));
        }
        let req = b.body(()).map_err(|e| Miss::Failed(format!("{url}: {e}")))?;
        let resp = self.agent.run(req).map_err(|e| failed(&e))?;
        if resp.status().as_u16() != 200 {
            return Err(Miss::Failed(format!("HTTP {} from the token service {realm}", resp.status().as_u16())));
        }
        let mut bytes = Vec::new();
        let reader = resp.into_body().into_with_config().limit(MAX_AUTH).reader();
        reader.take(MAX_AUTH).read_to_end(&mut bytes).map_err(|e| Miss::Failed(format!("{realm}: {e}")))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let token = v["token"].as_str().or(v["access_token"].as_str()).filter(|t| !t.is_empty());
        let token = token.ok_or_else(|| Miss::Failed(format!("no token from {realm}")))?;
        Ok(Some(format!("Bearer {token}")))
    }
}

/// `k="v", k2=v2` of a challenge.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((k, after)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q[..end].to_string(), q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((k, v));
        rest = next.trim_start().trim_start_matches(',');
    }
    out
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The auth files container tools read, in their order.
fn auth_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Some(f) = crate::env::nonempty("REGISTRY_AUTH_FILE") {
        out.push(f.into());
    }
    if let Some(d) = crate::env::nonempty("XDG_RUNTIME_DIR") {
        out.push(std::path::Path::new(&d).join("containers/auth.json"));
    }
    if let Some(h) = crate::env::nonempty("HOME") {
        out.push(std::path::Path::new(&h).join(".docker/config.json"));
    }
    out
}

/// `user:password` for `host`/`repo`: the first auth file that has an
/// entry, its most specific one (`host/repo`, its parents, `host`).
fn lookup(host: &str, repo: &str) -> Option<String> {
    let mut wanted = vec![format!("{host}/{repo}")];
    while let Some((parent, _)) = wanted.last().and_then(|w| w.rsplit_once('/')) {
        wanted.push(parent.to_string());
    }
    auth_files().into_iter().find_map(|f| {
        let mut bytes = Vec::new();
        std::fs::File::open(&f).ok()?.take(MAX_AUTH).read_to_end(&mut bytes).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let auths = v["auths"].as_object()?;
        let norm =
            |k: &str| k.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
        wanted.iter().find_map(|w| {
            let (_, e) = auths.iter().find(|(k, _)| norm(k) == *w)?;
            let decoded = crate::base64::decode(e["auth"].as_str()?)?;
            String::from_utf8(decoded).ok().filter(|s| s.contains(':'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_bearer_challenge() {
        let p = parse_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            p,
            [
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
        assert_eq!(percent("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
