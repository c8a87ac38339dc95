//! Example binaries run as separate server processes with an environment of
//! the test's choosing (two instances sharing Redis, say).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// `examples/<name>.rs` serving on a free loopback port.
pub struct Instance {
    child: Child,
    pub addr: SocketAddr,
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
        let url = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{name} printed {first:?} first"));
        Self {
            addr: url.parse().expect("an address"),
            child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// SIGTERM (a graceful shutdown), then waits for a clean exit.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
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
