//! The limits that protect a server nobody configured. Each has a default,
//! an environment variable and an [`App`](crate::App) builder method of the
//! same name (`TINY_BODY_TIMEOUT` / `App::body_timeout`); a builder call
//! wins over the variable, which wins over the default. The variables are
//! read once, when the app starts serving, and a malformed one stops the
//! start with a message naming it.

use std::time::Duration;

use crate::{Error, Result};

/// How long a client may take to send a request body, unless configured.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send a request head.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for connections to drain before closing them.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may make no write progress before it is ended.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head (request line and headers) read, in bytes;
/// larger ones are answered 431. Big enough for large cookies.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How many streams one HTTP/2 connection may have open at once, unless
/// configured: a browser's page rarely needs more, and each is a task.
pub const DEFAULT_H2_MAX_STREAMS: u32 = 256;
/// How often an HTTP/2 connection PINGs its peer, unless configured; a PING
/// unanswered for as long again closes the connection, so a peer gone
/// silent is found within twice this.
pub const DEFAULT_H2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// Share of the process's file-descriptor limit open streams may take by
/// default: the rest stays in reserve, so ordinary pages still answer and
/// every refused stream still gets its 503.
const STREAM_SHARE_OF_FDS: f64 = 0.9;

/// The settings given to the builder; `None` reads the environment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Configured {
    pub(crate) body_timeout: Option<Duration>,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) max_streams: Option<usize>,
    /// `Some(0)` turns the cap off.
    pub(crate) max_streams_per_ip: Option<usize>,
    pub(crate) h2_max_streams: Option<u32>,
    pub(crate) h2_keep_alive: Option<Duration>,
}

/// The limits in force while an app serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) body_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_streams: usize,
    /// `None`: no per-address cap.
    pub(crate) max_streams_per_ip: Option<usize>,
    /// Concurrent streams per HTTP/2 connection (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub(crate) h2_max_streams: u32,
    /// The HTTP/2 PING interval, and how long a PING may go unanswered.
    pub(crate) h2_keep_alive: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_timeout: DEFAULT_BODY_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_streams: default_max_streams(),
            max_streams_per_ip: None,
            h2_max_streams: DEFAULT_H2_MAX_STREAMS,
            h2_keep_alive: DEFAULT_H2_KEEP_ALIVE,
        }
    }
}

impl Configured {
    /// The limits: builder values, else `TINY_…` variables, else defaults.
    pub(crate) fn resolve(&self) -> Result<Limits> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Limits {
            body_timeout: duration(
                self.body_timeout,
                "TINY_BODY_TIMEOUT",
                env,
                DEFAULT_BODY_TIMEOUT,
            )?,
            shutdown_timeout: duration(
                self.shutdown_timeout,
                "TINY_SHUTDOWN_TIMEOUT",
                env,
                DEFAULT_SHUTDOWN_TIMEOUT,
            )?,
            write_timeout: duration(
                self.write_timeout,
                "TINY_WRITE_TIMEOUT",
                env,
                DEFAULT_WRITE_TIMEOUT,
            )?,
            max_streams: match self.max_streams {
                Some(n) => n,
                None => count("TINY_MAX_STREAMS", env)?.unwrap_or_else(default_max_streams),
            },
            max_streams_per_ip: match self.max_streams_per_ip {
                Some(n) => Some(n),
                None => count("TINY_MAX_STREAMS_PER_IP", env)?,
            }
            .filter(|&n| n > 0),
            h2_max_streams: match self.h2_max_streams {
                Some(n) => n,
                None => match count("TINY_H2_MAX_STREAMS", env)? {
                    None => DEFAULT_H2_MAX_STREAMS,
                    Some(n) => u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                        Error::internal(format!(
                            "TINY_H2_MAX_STREAMS `{n}` must be from 1 to {}",
                            u32::MAX
                        ))
                    })?,
                },
            },
            h2_keep_alive: duration(
                self.h2_keep_alive,
                "TINY_H2_KEEP_ALIVE",
                env,
                DEFAULT_H2_KEEP_ALIVE,
            )?,
        })
    }
}

fn duration(
    explicit: Option<Duration>,
    name: &str,
    env: impl Fn(&str) -> Option<String>,
    default: Duration,
) -> Result<Duration> {
    if let Some(value) = explicit {
        return Ok(value);
    }
    let Some(text) = env(name) else {
        return Ok(default);
    };
    match tiny_syntax::duration::parse(&text) {
        Ok(value) if !value.is_zero() => Ok(value),
        Ok(_) => Err(Error::internal(format!(
            "{name} must be above zero, e.g. 30s"
        ))),
        Err(error) => Err(Error::internal(format!(
            "{name} `{text}` is not a duration ({error})"
        ))),
    }
}

fn count(name: &str, env: impl Fn(&str) -> Option<String>) -> Result<Option<usize>> {
    let Some(text) = env(name) else {
        return Ok(None);
    };
    text.trim().parse().map(Some).map_err(|_| {
        Error::internal(format!(
            "{name} `{text}` is not a whole number (0 turns the limit off)"
        ))
    })
}

/// 90 % of the soft file-descriptor limit, less the descriptors open now
/// (the runtime's, the listener's, the log's), at least 1; 10 000 where the
/// limit cannot be read.
fn default_max_streams() -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) if soft != rlimit::INFINITY => {
            let share = (soft as f64 * STREAM_SHARE_OF_FDS) as usize;
            share.saturating_sub(open_descriptors()).max(1)
        }
        _ => 10_000,
    }
}

/// How many descriptors the process has open (Linux: `/proc/self/fd`); 0
/// where that cannot be read.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn builder_wins_over_env_over_default() {
        let vars = [("TINY_BODY_TIMEOUT", "5s")];
        let env = with_env(&vars);
        let set = Some(Duration::from_secs(1));
        assert_eq!(
            duration(set, "TINY_BODY_TIMEOUT", &env, DEFAULT_BODY_TIMEOUT).unwrap(),
            Duration::from_secs(1)
        );
        assert_eq!(
            duration(None, "TINY_BODY_TIMEOUT", &env, DEFAULT_BODY_TIMEOUT).unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(
            duration(
                None,
                "TINY_SHUTDOWN_TIMEOUT",
                &env,
                DEFAULT_SHUTDOWN_TIMEOUT
            )
            .unwrap(),
            DEFAULT_SHUTDOWN_TIMEOUT
        );
    }

    #[test]
    fn durations_take_units_or_bare_seconds() {
        for (text, want) in [("250ms", 250), ("2m", 120_000), ("7", 7_000)] {
            let vars = [("X", text)];
            let env = with_env(&vars);
            let got = duration(None, "X", &env, Duration::ZERO).unwrap();
            assert_eq!(got, Duration::from_millis(want), "{text}");
        }
    }

    #[test]
    fn malformed_settings_name_themselves() {
        let vars = [("TINY_BODY_TIMEOUT", "soon"), ("TINY_MAX_STREAMS", "lots")];
        let env = with_env(&vars);
        let error = duration(None, "TINY_BODY_TIMEOUT", &env, DEFAULT_BODY_TIMEOUT).unwrap_err();
        assert!(
            error.message().contains("TINY_BODY_TIMEOUT `soon`"),
            "{error}"
        );
        let error = count("TINY_MAX_STREAMS", &env).unwrap_err();
        assert!(error.message().contains("TINY_MAX_STREAMS"), "{error}");
        let vars = [("TINY_WRITE_TIMEOUT", "0s")];
        let zero = with_env(&vars);
        assert!(duration(None, "TINY_WRITE_TIMEOUT", &zero, DEFAULT_WRITE_TIMEOUT).is_err());
    }

    #[test]
    fn the_stream_cap_keeps_descriptors_in_reserve() {
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        if soft != rlimit::INFINITY {
            assert!((default_max_streams() as u64) < soft.max(2));
        }
    }
}
