//! Example binaries run as separate server processes with an environment of
//! the test's choosing (two instances sharing Redis, say).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// `examples/<name>.rs` serving on a free loopback port, over HTTP or, with
/// `TINY_TLS_CERT`/`TINY_TLS_KEY`, HTTPS.
pub struct Instance {
    child: Child,
    pub addr: SocketAddr,
    /// `http` or `https`, as the example printed.
    scheme: &'static str,
}

impl Instance {
    /// Starts the example with `env` and waits for its `listening on` line.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(crate::support::examples::example_binary(name));
        command
            .env("TINY_ADDR", "127.0.0.1:0")
            .env_remove("TINY_CACHE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read the first line");
        let line = first.trim();
        let (scheme, addr) = [
            ("https", "listening on https://"),
            ("http", "listening on http://"),
        ]
        .into_iter()
        .find_map(|(scheme, prefix)| line.strip_prefix(prefix).map(|addr| (scheme, addr)))
        .unwrap_or_else(|| panic!("{name} printed {first:?} first"));
        Self {
            addr: addr.parse().expect("an address"),
            child,
            scheme,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// The process's resident memory, in KiB (`VmRSS`).
    #[allow(dead_code)]
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the instance's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// Sends the signal `name` (`TERM`, `HUP`) and returns at once.
    #[allow(dead_code)]
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Sends SIGTERM and returns at once.
    #[allow(dead_code)]
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Waits for the process to exit, for at most `limit`.
    #[allow(dead_code)]
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGTERM (a graceful shutdown), then waits for a clean exit.
    #[allow(dead_code)]
    pub fn stop(mut self) {
        self.terminate();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "the instance exited with {status}");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
