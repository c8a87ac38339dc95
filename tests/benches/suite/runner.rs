//! The runner: for each scenario and run, starts a server (tiny, then the
//! baseline, alternating which goes first; two of each for topics through
//! Redis; Nchan too for the scenarios it can serve), runs a load generator
//! against it, stops it; then writes the table of medians.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::load::{Figures, Phases, Scenario, Spec};
use crate::{nchan, probe};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tiny,
    Baseline,
    /// nginx + Nchan (`nchan.rs`): idle streams only.
    Nchan,
}

impl Kind {
    fn arg(self) -> &'static str {
        match self {
            Kind::Tiny => "tiny",
            Kind::Baseline => "baseline",
            Kind::Nchan => "nchan",
        }
    }
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(kind: Kind, env: &[(&str, String)]) -> Self {
        if kind == Kind::Nchan {
            let installed = nchan::installed().expect("checked before the run");
            let (child, addr) = nchan::start(&installed);
            return Server { child, addr };
        }
        let mut command = if kind == Kind::Tiny && !tiny_on_system_allocator() {
            // `suite-tiny`: the same server on jemalloc (`tiny_main.rs`).
            Command::new(env!("CARGO_BIN_EXE_suite-tiny"))
        } else {
            let mut command = Command::new(std::env::current_exe().expect("own path"));
            command.args(["server", kind.arg()]);
            command
        };
        command
            .env("TINY_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .env_remove("TINY_CACHE_URL")
            .env_remove("SUITE_LISTEN")
            // tiny checks it at start-up because a pg stream is mounted; its
            // listener connects on the first pg subscription only.
            .env("DATABASE_URL", database_url())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim().strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("{kind:?} server said {line:?}"))
            .parse()
            .expect("server address");
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `SUITE_TINY_ALLOCATOR=system`: tiny's server on glibc's malloc, as the
/// baseline, instead of jemalloc.
fn tiny_on_system_allocator() -> bool {
    std::env::var("SUITE_TINY_ALLOCATOR").is_ok_and(|a| a == "system")
}

/// Runs the load generator against `servers` (the first is the one whose
/// RSS and CPU are read).
fn load(servers: &[Server], scenario: Scenario) -> Figures {
    let spec = Spec {
        addr: servers[0].addr,
        pid: servers[0].child.id(),
        others: servers[1..].iter().map(|s| s.addr).collect(),
        scenario,
    };
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args(["load", &serde_json::to_string(&spec).expect("spec")])
        .stderr(Stdio::inherit())
        .output()
        .expect("run the load generator");
    assert!(output.status.success(), "load generator failed: {spec:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("load figures")
}

/// One scenario: its name, the server environment, how many server
/// processes of each kind, the load.
struct Plan {
    name: &'static str,
    env: Vec<(&'static str, String)>,
    servers: usize,
    scenario: Scenario,
    /// Nchan serves this scenario too (idle streams on `/idle`).
    nchan: bool,
    /// The baseline serves it (it has no TLS, so no HTTP/2).
    baseline: bool,
}

fn plans() -> Vec<Plan> {
    let redis =
        std::env::var("TINY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let mut plans = vec![Plan {
        name: "idle",
        env: vec![],
        servers: 1,
        scenario: Scenario::Idle {
            path: "/idle".into(),
            steps: vec![10_000, 19_000],
        },
        nchan: true,
        baseline: true,
    }];
    // Idle over TLS HTTP/2 (tiny only): 1, 10 and 100 streams a connection.
    let tls = Tls::write();
    for (name, per_connection) in [("idle_h2_1", 1), ("idle_h2_10", 10), ("idle_h2_100", 100)] {
        plans.push(Plan {
            name,
            env: tls.env(),
            servers: 1,
            scenario: Scenario::IdleH2 {
                path: "/idle".into(),
                streams: 10_000,
                per_connection,
                cert: tls.der.clone(),
            },
            nchan: false,
            baseline: false,
        });
    }
    plans.extend([
        Plan {
            name: "poll",
            env: vec![],
            servers: 1,
            scenario: Scenario::Poll {
                streams: 10_000,
                seconds: 10,
            },
            nchan: false,
            baseline: true,
        },
        Plan {
            name: "key-moka",
            env: vec![],
            servers: 1,
            scenario: Scenario::Key {
                keys: 1000,
                paced: 3000,
                flat_out: 20_000,
            },
            nchan: false,
            baseline: true,
        },
        Plan {
            name: "key-redis",
            env: vec![("TINY_CACHE_URL", redis.clone())],
            servers: 1,
            scenario: Scenario::Key {
                keys: 1000,
                paced: 3000,
                flat_out: 20_000,
            },
            nchan: false,
            baseline: true,
        },
        Plan {
            name: "churn",
            env: vec![],
            servers: 1,
            scenario: Scenario::Churn {
                cycles: 50_000,
                concurrency: 64,
                warmup: 10_000,
            },
            nchan: false,
            baseline: true,
        },
    ]);
    if crate::tiny_server::PG_MODE {
        plans.push(Plan {
            name: "fanout",
            // The baseline opens its LISTEN connection at start when asked.
            env: vec![("SUITE_LISTEN", "1".into())],
            servers: 1,
            scenario: Scenario::Fanout {
                subscribers: 10_000,
                database_url: database_url(),
                channel: crate::PG_CHANNEL.into(),
                phases: fan_out_phases(),
            },
            nchan: false,
            baseline: true,
        });
    }
    // The pg fan-out's load, on a topic: in one process, then through Redis
    // with the subscribers split between two (published on the first).
    plans.push(Plan {
        name: "topic-memory",
        env: vec![],
        servers: 1,
        scenario: Scenario::Topic {
            subscribers: 10_000,
            phases: fan_out_phases(),
        },
        nchan: false,
        baseline: true,
    });
    plans.push(Plan {
        name: "topic-redis",
        env: vec![("TINY_CACHE_URL", redis)],
        servers: 2,
        scenario: Scenario::Topic {
            subscribers: 10_000,
            phases: fan_out_phases(),
        },
        nchan: false,
        baseline: true,
    });
    if let Ok(only) = std::env::var("SUITE_ONLY") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        plans.retain(|p| only.iter().any(|o| p.name.starts_with(o)));
    }
    plans
}

/// Bursts of 100 messages × 10 000 subscribers, then 10/s for 10 s: pg and
/// topic fan-out alike.
fn fan_out_phases() -> Phases {
    Phases {
        bursts: 5,
        burst_size: 100,
        steady_rate: 10,
        steady_seconds: 10,
    }
}

/// A self-signed certificate for the HTTP/2 scenarios, written once per
/// suite run into the target directory: PEM files for the server, DER for
/// the load generator to trust.
struct Tls {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    der: std::path::PathBuf,
}

impl Tls {
    fn write() -> Self {
        let dir = std::env::current_exe()
            .expect("own path")
            .parent()
            .and_then(std::path::Path::parent)
            .expect("the target directory")
            .join(format!("suite-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a certificate directory");
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("a self-signed certificate");
        let tls = Self {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            der: dir.join("cert.der"),
        };
        std::fs::write(&tls.cert, made.cert.pem()).expect("write the certificate");
        std::fs::write(&tls.key, made.signing_key.serialize_pem()).expect("write the key");
        std::fs::write(&tls.der, made.cert.der()).expect("write the certificate");
        tls
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TINY_TLS_CERT", self.cert.display().to_string()),
            ("TINY_TLS_KEY", self.key.display().to_string()),
        ]
    }
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

type Results = BTreeMap<(&'static str, Kind), Vec<Figures>>;

pub fn main() {
    let runs: usize = std::env::var("SUITE_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let started = Instant::now();
    let mut results = Results::new();
    let plans = plans();
    let nchan = nchan::installed().is_some();
    if !nchan && plans.iter().any(|p| p.nchan) {
        eprintln!(
            "suite: nginx with the Nchan module not found, so no Nchan column \
             (Debian: apt-get install nginx libnginx-mod-nchan)"
        );
    }
    for plan in plans {
        for run in 0..runs {
            let mut order = if run % 2 == 0 {
                vec![Kind::Tiny, Kind::Baseline]
            } else {
                vec![Kind::Baseline, Kind::Tiny]
            };
            if !plan.baseline {
                order.retain(|kind| *kind == Kind::Tiny);
            }
            if nchan && plan.nchan {
                // Between the two, so it is never always first or last.
                order.insert(1, Kind::Nchan);
            }
            for kind in order {
                let at = Instant::now();
                let servers: Vec<Server> = (0..plan.servers)
                    .map(|_| Server::start(kind, &plan.env))
                    .collect();
                let figures = load(&servers, plan.scenario.clone());
                drop(servers);
                eprintln!(
                    "suite: {} run {} {:?}: {:.0} s {figures:?}",
                    plan.name,
                    run + 1,
                    kind,
                    at.elapsed().as_secs_f64()
                );
                results.entry((plan.name, kind)).or_default().push(figures);
            }
        }
    }
    let table = render(&results, runs, started.elapsed().as_secs());
    println!("{table}");
    // `cargo bench` runs in tests/; the default goes to the workspace's target/.
    let out = std::env::var("SUITE_OUT").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-results.md").into()
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out, &table).expect("write the results");
    eprintln!("suite: results written to {out}");
}

fn median(results: &Results, scenario: &'static str, kind: Kind, metric: &str) -> Option<f64> {
    let mut values: Vec<f64> = results
        .get(&(scenario, kind))?
        .iter()
        .filter_map(|f| f.get(metric).copied())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// A row of the table: what, where, how shown, and the target if any.
struct Row {
    label: &'static str,
    scenario: &'static str,
    metric: &'static str,
    unit: Unit,
    target: Option<Target>,
}

#[derive(Clone, Copy)]
enum Unit {
    Kib,
    Count,
    Rate,
    Micros,
    Percent,
}

#[derive(Clone, Copy)]
enum Target {
    Below(f64, &'static str),
    AtMost(f64, &'static str),
    Above(f64, &'static str),
    /// At least the baseline's figure.
    AtLeastBaseline,
    /// At most Nchan's figure, measured in the same run.
    AtMostNchan,
}

fn rows() -> Vec<Row> {
    use Target::*;
    use Unit::*;
    let row = |label, scenario, metric, unit, target| Row {
        label,
        scenario,
        metric,
        unit,
        target,
    };
    vec![
        row(
            "(a) idle: RSS per stream, 10 000 streams",
            "idle",
            "rss_per_stream_kib_10000",
            Kib,
            Some(AtMostNchan),
        ),
        row(
            "(a) idle: RSS per stream, 19 000 streams",
            "idle",
            "rss_per_stream_kib_19000",
            Kib,
            Some(AtMostNchan),
        ),
        row(
            "(a) idle: server RSS at 19 000 streams",
            "idle",
            "rss_kib_19000",
            Kib,
            None,
        ),
        row(
            "(a) idle: connect rate, first 10 000",
            "idle",
            "connect_per_s_10000",
            Rate,
            None,
        ),
        row(
            "(a) idle: connect rate, next 9 000",
            "idle",
            "connect_per_s_19000",
            Rate,
            None,
        ),
        row(
            "(a) idle, TLS HTTP/2, 1 stream a connection: RSS per stream, 10 000 streams",
            "idle_h2_1",
            "rss_per_stream_kib",
            Kib,
            None,
        ),
        row(
            "(a) idle, TLS HTTP/2, 10 streams a connection: RSS per stream, 10 000 streams",
            "idle_h2_10",
            "rss_per_stream_kib",
            Kib,
            None,
        ),
        row(
            "(a) idle, TLS HTTP/2, 100 streams a connection: RSS per stream, 10 000 streams",
            "idle_h2_100",
            "rss_per_stream_kib",
            Kib,
            None,
        ),
        row(
            "(b) poll 1 s × 10 000: server CPU",
            "poll",
            "cpu_percent",
            Percent,
            None,
        ),
        row(
            "(b) poll 1 s × 10 000: events/s received",
            "poll",
            "events_per_s",
            Rate,
            None,
        ),
        row(
            "(b) poll 1 s × 10 000: tick → client p99",
            "poll",
            "p99_us",
            Micros,
            None,
        ),
        row(
            "(b) poll 1 s × 10 000: server RSS",
            "poll",
            "rss_kib",
            Kib,
            None,
        ),
        row(
            "(d) key, moka: send → frame p50",
            "key-moka",
            "p50_us",
            Micros,
            Some(Below(1000.0, "< 1 ms")),
        ),
        row(
            "(d) key, moka: send → frame p99",
            "key-moka",
            "p99_us",
            Micros,
            None,
        ),
        row(
            "(d) key, moka: messages/s, 1 000 keys flat out",
            "key-moka",
            "messages_per_s",
            Rate,
            None,
        ),
        row(
            "(d) key, Redis: send → frame p50",
            "key-redis",
            "p50_us",
            Micros,
            Some(Below(5000.0, "< 5 ms")),
        ),
        row(
            "(d) key, Redis: send → frame p99",
            "key-redis",
            "p99_us",
            Micros,
            None,
        ),
        row(
            "(d) key, Redis: messages/s, 1 000 keys flat out",
            "key-redis",
            "messages_per_s",
            Rate,
            None,
        ),
        row(
            "(e) churn: connect/disconnect cycles/s",
            "churn",
            "cycles_per_s",
            Rate,
            None,
        ),
        row(
            "(e) churn: live streams after 50 000 cycles",
            "churn",
            "live_streams_after",
            Count,
            Some(AtMost(0.0, "0")),
        ),
        row(
            "(e) churn: RSS after warm-up",
            "churn",
            "rss_start_kib",
            Kib,
            None,
        ),
        row(
            "(e) churn: RSS after 50 000 cycles",
            "churn",
            "rss_end_kib",
            Kib,
            None,
        ),
        row(
            "(e) churn: RSS growth over the 50 000 cycles",
            "churn",
            "rss_growth_percent",
            Percent,
            Some(Below(10.0, "< 10 %")),
        ),
        row(
            "(c) pg fan-out: events/s, bursts of 100 NOTIFY × 10 000",
            "fanout",
            "burst_events_per_s",
            Rate,
            Some(AtLeastBaseline),
        ),
        row(
            "(c) pg fan-out: bursts, events delivered",
            "fanout",
            "burst_delivered_percent",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
        row(
            "(c) pg fan-out: bursts, NOTIFY → frame p50",
            "fanout",
            "burst_p50_us",
            Micros,
            None,
        ),
        row(
            "(c) pg fan-out: bursts, NOTIFY → frame p99",
            "fanout",
            "burst_p99_us",
            Micros,
            None,
        ),
        row(
            "(c) pg fan-out: steady 10/s × 10 000, NOTIFY → frame p50",
            "fanout",
            "steady_p50_us",
            Micros,
            None,
        ),
        row(
            "(c) pg fan-out: steady 10/s × 10 000, NOTIFY → frame p99",
            "fanout",
            "steady_p99_us",
            Micros,
            Some(Below(100_000.0, "< 100 ms")),
        ),
        row(
            "(c) pg fan-out: steady, events delivered",
            "fanout",
            "steady_delivered_percent",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
        row(
            "(f) topic fan-out, in process: events/s, bursts of 100 × 10 000",
            "topic-memory",
            "burst_events_per_s",
            Rate,
            Some(AtLeastBaseline),
        ),
        row(
            "(f) topic fan-out, in process: bursts, events delivered",
            "topic-memory",
            "burst_delivered_percent",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
        row(
            "(f) topic fan-out, in process: bursts, publish → frame p50",
            "topic-memory",
            "burst_p50_us",
            Micros,
            None,
        ),
        row(
            "(f) topic fan-out, in process: bursts, publish → frame p99",
            "topic-memory",
            "burst_p99_us",
            Micros,
            None,
        ),
        row(
            "(f) topic fan-out, in process: steady 10/s × 10 000, publish → frame p50",
            "topic-memory",
            "steady_p50_us",
            Micros,
            None,
        ),
        row(
            "(f) topic fan-out, in process: steady 10/s × 10 000, publish → frame p99",
            "topic-memory",
            "steady_p99_us",
            Micros,
            // Issue 6's p99 target is pg's; topics are held to events/s.
            None,
        ),
        row(
            "(f) topic fan-out, in process: steady, events delivered",
            "topic-memory",
            "steady_delivered_percent",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
        row(
            "(f) topic fan-out, Redis × 2 processes: events/s, bursts of 100 × 10 000",
            "topic-redis",
            "burst_events_per_s",
            Rate,
            None,
        ),
        row(
            "(f) topic fan-out, Redis × 2: bursts, events delivered",
            "topic-redis",
            "burst_delivered_percent",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
        row(
            "(f) topic fan-out, Redis × 2: bursts, delivered by the process not publishing",
            "topic-redis",
            "burst_delivered_percent_instance_2",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
        row(
            "(f) topic fan-out, Redis × 2: bursts, publish → frame p50",
            "topic-redis",
            "burst_p50_us",
            Micros,
            None,
        ),
        row(
            "(f) topic fan-out, Redis × 2: bursts, publish → frame p99",
            "topic-redis",
            "burst_p99_us",
            Micros,
            None,
        ),
        row(
            "(f) topic fan-out, Redis × 2: steady 10/s × 10 000, publish → frame p50",
            "topic-redis",
            "steady_p50_us",
            Micros,
            None,
        ),
        row(
            "(f) topic fan-out, Redis × 2: steady 10/s × 10 000, publish → frame p99",
            "topic-redis",
            "steady_p99_us",
            Micros,
            // Issue 6's p99 target is pg's; topics are held to events/s.
            None,
        ),
        row(
            "(f) topic fan-out, Redis × 2: steady, events delivered",
            "topic-redis",
            "steady_delivered_percent",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
        row(
            "(f) topic fan-out, Redis × 2: steady, delivered by the process not publishing",
            "topic-redis",
            "steady_delivered_percent_instance_2",
            Percent,
            Some(Above(99.9999, "100 %")),
        ),
    ]
}

fn show(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Kib if value < 100.0 => format!("{:.1} KB", value * 1.024),
        Unit::Kib => format!("{:.1} MiB", value / 1024.0),
        Unit::Count => format!("{value:.0}"),
        Unit::Rate if value >= 10_000.0 => format!("{:.0} k/s", value / 1000.0),
        Unit::Rate => format!("{value:.0}/s"),
        Unit::Micros if value >= 10_000.0 => format!("{:.0} ms", value / 1000.0),
        Unit::Micros if value >= 1000.0 => format!("{:.1} ms", value / 1000.0),
        Unit::Micros => format!("{value:.0} µs"),
        Unit::Percent => format!("{value:.1} %"),
    }
}

fn render(results: &Results, runs: usize, seconds: u64) -> String {
    let nchan = results.keys().any(|(_, kind)| *kind == Kind::Nchan);
    let mut out = String::new();
    out.push_str(&format!(
        "## Results: tiny vs a hand-written axum 0.8 baseline{}\n\n\
         Median of {runs} run(s) per figure; every server measured in the same run, \
         each in its own process with its own load generator. Whole suite: {seconds} s.\n\n",
        if nchan { " and Nchan" } else { "" }
    ));
    out.push_str("| machine | |\n|---|---|\n");
    for (what, value) in probe::machine() {
        out.push_str(&format!("| {what} | {value} |\n"));
    }
    out.push_str(if tiny_on_system_allocator() {
        "\nAllocator: glibc malloc in both Rust servers (`SUITE_TINY_ALLOCATOR=system`).\n"
    } else {
        "\nAllocator: tiny's server on jemalloc (`tikv-jemallocator`, the `suite-tiny` binary), \
         the baseline on glibc malloc (it holds more per stream on jemalloc).\n"
    });
    out.push_str(
        "\nKB = 1000 bytes, MiB = 1024 × 1024 bytes. A ratio below 1 is better for memory, CPU and latency, \
         above 1 for rates.\n\n",
    );
    if nchan {
        out.push_str(
            "| scenario | tiny | baseline | Nchan | tiny/baseline | tiny/Nchan | target | met |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
    } else {
        out.push_str(
            "| scenario | tiny | baseline | tiny/baseline | target | met |\n|---|---|---|---|---|---|\n",
        );
    }
    for row in rows() {
        let tiny = median(results, row.scenario, Kind::Tiny, row.metric);
        let baseline = median(results, row.scenario, Kind::Baseline, row.metric);
        let peer = median(results, row.scenario, Kind::Nchan, row.metric);
        if tiny.is_none() && baseline.is_none() {
            continue;
        }
        let shown = |v: Option<f64>| v.map_or("–".into(), |v| show(v, row.unit));
        let ratio = |other: Option<f64>| match (tiny, other) {
            (Some(t), Some(o)) if o != 0.0 => format!("{:.2}", t / o),
            _ => "–".into(),
        };
        let (target, met) = match (row.target, tiny) {
            (None, _) => (String::new(), String::new()),
            (Some(target), tiny) => {
                let (text, met) = match target {
                    Target::Below(limit, text) => (text.to_owned(), tiny.map(|t| t < limit)),
                    Target::AtMost(limit, text) => (text.to_owned(), tiny.map(|t| t <= limit)),
                    Target::Above(limit, text) => (text.to_owned(), tiny.map(|t| t > limit)),
                    Target::AtLeastBaseline => (
                        "≥ baseline".to_owned(),
                        tiny.zip(baseline).map(|(t, b)| t >= b),
                    ),
                    Target::AtMostNchan => {
                        ("≤ Nchan".to_owned(), tiny.zip(peer).map(|(t, n)| t <= n))
                    }
                };
                let met = match met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "–",
                };
                (text, met.to_owned())
            }
        };
        if nchan {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {target} | {met} |\n",
                row.label,
                shown(tiny),
                shown(baseline),
                shown(peer),
                ratio(baseline),
                ratio(peer),
            ));
        } else {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {target} | {met} |\n",
                row.label,
                shown(tiny),
                shown(baseline),
                ratio(baseline),
            ));
        }
    }
    out
}
