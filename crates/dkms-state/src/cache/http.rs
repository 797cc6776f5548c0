//! What the HTTP sources share: the agent (ureq over rustls with the
//! platform's certificates, proxies from the environment, bounded times,
//! redirects followed without credentials), how a transport error is told,
//! and why an entry was not fetched.

use std::time::Duration;

/// Why an entry was not fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The source does not have it (HTTP 404, no such file).
    Absent,
    /// Anything else: the reason, for a warning.
    Failed(String),
}

/// Seconds allowed to connect and to receive a response's headers
/// (`DKMS_BINARY_CACHE_TIMEOUT`, default 5), and for a whole body (ten
/// times that).
pub fn timeout() -> Duration {
    let secs = crate::env::nonempty("DKMS_BINARY_CACHE_TIMEOUT").and_then(|s| s.parse::<f64>().ok());
    Duration::from_secs_f64(secs.filter(|s| *s > 0.0).unwrap_or(5.0))
}

/// The agent every request of the cache goes through.
pub(crate) fn agent() -> ureq::Agent {
    let t = timeout();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .timeout_connect(Some(t))
        .timeout_recv_response(Some(t))
        .timeout_recv_body(Some(t * 10))
        .http_status_as_error(false)
        // Registries backed by object storage answer blob GETs with a 307
        // to another host (a signed S3 or GCS URL): followed, and the
        // registry's `Authorization` never sent along (ureq's default,
        // stated here as the decision it is; tests/cli/cache/oci.rs).
        .max_redirects(10)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .proxy(ureq::Proxy::try_from_env())
        .tls_config(tls)
        .user_agent(concat!("dkms-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A transport error in a few words, for a warning.
pub(crate) fn describe_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        other => other.to_string(),
    }
}
