//! A real headless Chromium driven through chromedriver (WebDriver), and the
//! example binaries it visits.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Browsers are slower than sockets, especially two at once on 2 cores.
pub const BROWSER_DEADLINE: Duration = Duration::from_secs(40);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One headless Chromium with its own chromedriver and empty profile.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    pub async fn start() -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: apt-get install chromium chromium-driver (bash tests/run.sh does)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let webdriver = format!("http://127.0.0.1:{port}");
        let profile = std::env::temp_dir().join(super::services::unique("tiny-chromium"));
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    // The HTTPS tests serve a self-signed certificate.
                    "--ignore-certificate-errors",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let start = tokio::time::Instant::now();
        // chromedriver takes a moment to listen: retry until it answers.
        let client = loop {
            match fantoccini::ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(_) if start.elapsed() < BROWSER_DEADLINE => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => {
                    panic!("cannot start a Chromium session through chromedriver: {error}")
                }
            }
        };
        Self {
            client,
            driver,
            profile,
        }
    }

    /// Evaluates `expression` in the page until it is truthy; returns its value.
    pub async fn wait_for(&self, what: &str, expression: &str) -> Value {
        let script = format!("return ({expression});");
        let start = tokio::time::Instant::now();
        loop {
            match self.client.execute(&script, vec![]).await {
                Ok(value) if truthy(&value) => return value,
                Ok(_) => {}
                Err(error) => panic!("script `{expression}` failed: {error}"),
            }
            assert!(
                start.elapsed() < BROWSER_DEADLINE,
                "timed out waiting for {what} (`{expression}`)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the element matching `css`, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    /// Evaluates `expression` once.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("script `{expression}` failed: {e}"))
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn free_port() -> u16 {
    super::free_addr().port()
}

/// An example binary serving on a loopback address.
pub struct ExampleServer {
    child: Child,
    pub addr: SocketAddr,
    /// `http` or `https`.
    scheme: String,
}

impl ExampleServer {
    /// Starts `examples/<name>.rs` on `addr` (port 0: any) and waits for its
    /// `listening on http://…` line.
    pub fn start(name: &str, addr: &str) -> Self {
        Self::start_with(name, addr, &[])
    }

    /// [`ExampleServer::start`] with more variables (`TINY_TLS_CERT`…);
    /// the URL's scheme is the one the example printed.
    pub fn start_with(name: &str, addr: &str, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(super::examples::example_binary(name));
        command
            .env("TINY_ADDR", addr)
            .env_remove("TINY_CACHE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the first line");
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{name} printed {first:?} first"));
        let (scheme, addr) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("{name} printed {first:?} first"));
        Self {
            addr: addr.parse().expect("an address"),
            scheme: scheme.to_owned(),
            child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "the example exited with {status}");
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1` in PEM files of
/// a directory of its own, removed on drop.
pub struct SelfSigned {
    dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl SelfSigned {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(super::services::unique("tiny-tls"));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("a self-signed certificate");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
        Self { dir, cert, key }
    }

    /// `TINY_TLS_CERT` and `TINY_TLS_KEY` for these files.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TINY_TLS_CERT", self.cert.display().to_string()),
            ("TINY_TLS_KEY", self.key.display().to_string()),
        ]
    }
}

impl Drop for SelfSigned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
