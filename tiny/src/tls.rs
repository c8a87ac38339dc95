//! HTTPS: the certificate and key an app serves with, checked before it
//! binds, and reloaded on SIGHUP.
//!
//! TLS is here for HTTP/2 more than for encryption: browsers speak HTTP/2
//! only over TLS, negotiated by ALPN, and over HTTP/1.1 they open at most six
//! connections per host across all tabs, so a seventh `EventSource` waits.
//! The server offers `h2` first, then `http/1.1`.
//!
//! The certificate is served through a resolver holding the current one, so
//! a renewed certificate (certbot, cert-manager) is taken on SIGHUP without a
//! restart: new handshakes get the new one, open connections keep theirs. A
//! reload that fails (a half-written file, a key that does not match) is
//! logged and the old certificate kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// The ALPN protocols offered, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Where the certificate chain and private key are read from, and the
/// names of the settings that gave them, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    cert: PathBuf,
    key: PathBuf,
    cert_setting: &'static str,
    key_setting: &'static str,
}

impl Files {
    /// Paths given to [`App::tls`](crate::App::tls).
    pub(crate) fn new(cert: PathBuf, key: PathBuf) -> Self {
        Self {
            cert,
            key,
            cert_setting: "App::tls certificate",
            key_setting: "App::tls key",
        }
    }

    /// `TINY_TLS_CERT` and `TINY_TLS_KEY`: both or neither.
    pub(crate) fn from_env() -> Result<Option<Self>> {
        let var = |name| std::env::var_os(name).filter(|value| !value.is_empty());
        match (var("TINY_TLS_CERT"), var("TINY_TLS_KEY")) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Self {
                cert: cert.into(),
                key: key.into(),
                cert_setting: "TINY_TLS_CERT",
                key_setting: "TINY_TLS_KEY",
            })),
            (Some(_), None) => Err(Error::internal(
                "TINY_TLS_CERT is set but TINY_TLS_KEY is not: HTTPS needs the private key's \
                 PEM file too",
            )),
            (None, Some(_)) => Err(Error::internal(
                "TINY_TLS_KEY is set but TINY_TLS_CERT is not: HTTPS needs the certificate \
                 chain's PEM file too",
            )),
        }
    }

    /// Reads and checks the pair: every failure names the setting to fix.
    fn load(&self, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>> {
        let cert_pem = read(&self.cert, self.cert_setting)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(self.cert_setting, &self.cert, &e.to_string()))?;
        if chain.is_empty() {
            return Err(invalid(
                self.cert_setting,
                &self.cert,
                "no `BEGIN CERTIFICATE` section found",
            ));
        }
        let key_pem = read(&self.key, self.key_setting)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            invalid(
                self.key_setting,
                &self.key,
                &format!("no PKCS#8, PKCS#1 or SEC1 private key found ({e})"),
            )
        })?;
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| invalid(self.key_setting, &self.key, &e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            Ok(()) => Ok(Arc::new(certified)),
            Err(crypto_error) => Err(Error::internal(format!(
                "{} `{}` does not match the certificate in {} `{}` ({crypto_error}): \
                 give the key the certificate was issued for",
                self.key_setting,
                self.key.display(),
                self.cert_setting,
                self.cert.display()
            ))),
        }
    }
}

fn invalid(setting: &str, path: &Path, why: &str) -> Error {
    Error::internal(format!(
        "{setting} `{}` is not a usable PEM file: {why}",
        path.display()
    ))
}

fn read(path: &Path, setting: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::internal(format!(
            "{setting} `{}` cannot be read: {e}",
            path.display()
        ))
        .with_source(e)
    })
}

/// The certificate new handshakes get; replaced whole on reload.
#[derive(Debug)]
struct Current {
    files: Files,
    provider: Arc<CryptoProvider>,
    key: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a whole certificate: a writer only
        // swaps the `Arc`.
        Some(Arc::clone(
            &self.key.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// The TLS side of a serving app: the acceptor, and the certificate it
/// hands out.
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<Current>,
    /// Taken by [`Tls::reload_on_hangup`]; made before the app prints that
    /// it listens, so a SIGHUP from then on reloads instead of killing it.
    #[cfg(unix)]
    hangups: Option<tokio::signal::unix::Signal>,
}

impl Tls {
    /// Loads and checks the files; fails with a message naming the setting.
    pub(crate) fn load(files: Files) -> Result<Self> {
        // rustls 0.23.48 deprecates the ring provider because ring has no
        // post-quantum key exchange (X25519MLKEM768): handshakes use X25519.
        // ring is kept for the build (aws-lc-rs compiles a C library of its
        // own, minutes on a small machine); it is one feature to switch.
        #[allow(deprecated)]
        let provider = Arc::new(ring::default_provider());
        let key = files.load(&provider)?;
        let current = Arc::new(Current {
            files,
            provider: Arc::clone(&provider),
            key: RwLock::new(key),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("cannot set up TLS: {e}")).with_source(e))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            current,
            #[cfg(unix)]
            hangups: None,
        })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Starts catching SIGHUP (whose default is to end the process); the
    /// reloads begin with [`Tls::reload_on_hangup`]. Needs the runtime.
    pub(crate) fn catch_hangups(&mut self) {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hangups) => self.hangups = Some(hangups),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: certificates will not be reloaded");
            }
        }
    }

    /// Reloads the certificate on every SIGHUP caught until `stop` fires.
    pub(crate) fn reload_on_hangup(&mut self, stop: CancellationToken) {
        #[cfg(unix)]
        if let Some(mut hangups) = self.hangups.take() {
            let current = Arc::clone(&self.current);
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        signal = hangups.recv() => if signal.is_none() { return },
                    }
                    match current.reload() {
                        Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                        Err(error) => tracing::error!(
                            %error,
                            "SIGHUP: TLS certificate not reloaded, serving the previous one"
                        ),
                    }
                }
            });
        }
        #[cfg(not(unix))]
        let _ = stop;
    }
}

impl Current {
    /// Reads the files again; on success new handshakes get the new
    /// certificate, on failure the old one stays.
    fn reload(&self) -> Result<()> {
        let key = self.files.load(&self.provider)?;
        *self.key.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }
}

/// `true` when the handshake chose HTTP/2.
pub(crate) fn negotiated_h2(connection: &tokio_rustls::rustls::ServerConnection) -> bool {
    connection.alpn_protocol() == Some(ALPN[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str) -> Files {
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        Files {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            cert_setting: "TINY_TLS_CERT",
            key_setting: "TINY_TLS_KEY",
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tiny-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_file_names_its_setting() {
        let dir = scratch("missing");
        let mut files = files(&dir, "", "");
        files.cert = dir.join("absent.pem");
        let error = Tls::load(files).err().unwrap();
        assert!(error.message().starts_with("TINY_TLS_CERT `"), "{error}");
        assert!(error.message().contains("cannot be read"), "{error}");
    }

    #[test]
    fn a_file_without_pem_sections_names_its_setting() {
        let dir = scratch("garbage");
        let error = Tls::load(files(&dir, "not a certificate", ""))
            .err()
            .unwrap();
        assert!(error.message().starts_with("TINY_TLS_CERT `"), "{error}");
        assert!(error.message().contains("BEGIN CERTIFICATE"), "{error}");
    }
}
