//! The services of the suite as tiny controllers, served by `App::serve`
//! (`TINY_ADDR`, `TINY_CACHE_URL` and `DATABASE_URL` come from the runner).
//!
//! | path | what |
//! |---|---|
//! | `/idle` | a poll stream whose producer says nothing for an hour |
//! | `/idle-request` | the same, with a producer that takes the request (so the stream holds it) |
//! | `/poll` | a poll stream at 1 s, each frame the time it was produced |
//! | `/key/<k>` | a key stream on `bench:<k>` |
//! | `/produce/<prefix>/<keys>/<count>/<pace µs>` | starts a producer: `count` timestamps sent round-robin to `bench:<prefix>-<i>` |
//! | `/pg` | a pg stream on channel `bench_fanout` |
//! | `/topic/<t>` | a topic stream on `bench:<t>` |
//! | `/publish/<t>/<count>` | publishes `count` messages to `bench:<t>`, one timestamp for them all, and answers when they are published |
//! | `/stats` | `tiny::sse::live_streams()` |

use std::time::Duration;

use tiny::prelude::*;

use crate::now_micros;

/// Whether tiny has its pg mode yet (branch `pg`): the fan-out scenario needs it.
pub const PG_MODE: bool = true;

#[controller(path = "/idle")]
pub struct Idle;

#[controller]
impl Idle {
    #[sse(poll = 3600)]
    async fn get(&self) -> Option<String> {
        None
    }
}

/// `/idle` with a producer that takes the request, so the stream holds it.
#[controller(path = "/idle-request")]
pub struct IdleRequest;

#[controller]
impl IdleRequest {
    #[sse(poll = 3600)]
    async fn get(&self, req: &Request) -> Option<String> {
        req.header("x-never").map(str::to_owned)
    }
}

#[controller(path = "/poll")]
pub struct PollClock;

#[controller]
impl PollClock {
    #[sse(poll = 1)]
    async fn get(&self) -> Option<String> {
        Some(now_micros().to_string())
    }
}

#[controller(path = "/key")]
pub struct KeyStream;

#[controller]
impl KeyStream {
    #[sse(key = "bench:<section>")]
    fn get(&self) {}
}

#[controller(path = "/produce")]
pub struct Produce;

#[controller]
impl Produce {
    fn get(&self, req: &Request) -> tiny::Result<&'static str> {
        let plan = ProducePlan::parse(&req.path().section, &req.path().slug).ok_or_else(|| {
            tiny::Error::bad_request("/produce/<prefix>/<keys>/<count>/<pace µs>")
        })?;
        tokio::spawn(async move {
            plan.run(|key, message| async move {
                tiny::sse()
                    .send_key(&format!("bench:{key}"), message)
                    .await
                    .expect("send_key");
            })
            .await
        });
        Ok("started")
    }
}

#[controller(path = "/pg")]
pub struct PgFanout;

#[controller]
impl PgFanout {
    #[sse(pg = "bench_fanout")]
    fn get(&self) {}
}

#[controller(path = "/topic")]
pub struct TopicFanout;

#[controller]
impl TopicFanout {
    #[sse(topic = "bench:<section>")]
    fn get(&self) {}
}

#[controller(path = "/publish")]
pub struct Publish;

#[controller]
impl Publish {
    async fn get(&self, req: &Request) -> tiny::Result<&'static str> {
        let count = req
            .path()
            .slug
            .parse()
            .map_err(|_| tiny::Error::bad_request("/publish/<topic>/<count>"))?;
        let topic = format!("bench:{}", req.path().section);
        for data in burst(count) {
            tiny::sse().publish(&topic, data).await?;
        }
        Ok("published")
    }
}

#[controller(path = "/stats")]
pub struct Stats;

#[controller]
impl Stats {
    fn get(&self) -> String {
        tiny::sse::live_streams().to_string()
    }
}

/// A producer run, shared with the baseline.
pub struct ProducePlan {
    pub prefix: String,
    pub keys: usize,
    pub count: usize,
    pub pace: Duration,
}

impl ProducePlan {
    pub fn parse(prefix: &str, slug: &str) -> Option<Self> {
        let mut parts = slug.split('/').map(|p| p.parse::<u64>().ok());
        Some(Self {
            prefix: prefix.to_owned(),
            keys: parts.next()?? as usize,
            count: parts.next()?? as usize,
            pace: Duration::from_micros(parts.next()??),
        })
    }

    /// Sends `count` messages, each the time it is sent, to the keys in
    /// turn: one every `pace` (or flat out for 0). With
    /// `SUITE_PRODUCER_STATS` set, prints the quantiles of the sends' round
    /// trips (each awaited before the next) to stderr.
    pub async fn run<F, Fut>(self, mut send: F)
    where
        F: FnMut(String, String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut ticks = (!self.pace.is_zero()).then(|| {
            let mut ticks = tokio::time::interval(self.pace);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            ticks
        });
        let stats = std::env::var_os("SUITE_PRODUCER_STATS").is_some();
        let mut took = Vec::with_capacity(if stats { self.count } else { 0 });
        for n in 0..self.count {
            if let Some(ticks) = &mut ticks {
                ticks.tick().await;
            }
            let key = format!("{}-{}", self.prefix, n % self.keys);
            let sent = std::time::Instant::now();
            send(key, now_micros().to_string()).await;
            if stats {
                took.push(sent.elapsed().as_micros());
            }
        }
        if !took.is_empty() {
            took.sort_unstable();
            let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
            eprintln!(
                "producer: {} sends, one every {:?}: round trip p10 {} µs, p50 {} µs, p90 {} µs, p99 {} µs",
                took.len(),
                self.pace,
                at(0.1),
                at(0.5),
                at(0.9),
                at(0.99)
            );
        }
    }
}

/// The payloads of one `/publish`, shared with the baseline: `<µs>.<n>`
/// for n = 1..=count under one timestamp, taken before the first is
/// published, as the pg scenario stamps a burst before its `NOTIFY`s.
pub fn burst(count: usize) -> impl Iterator<Item = String> {
    let stamp = now_micros();
    (1..=count).map(move |n| format!("{stamp}.{n}"))
}

pub fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        // The idle scenario holds 19 000 streams in a process of 20 000
        // descriptors: past the default cap (90 % of them), as the baseline
        // has none.
        .block_on(
            tiny::App::new()
                .keep_alive(Duration::from_secs(15))
                .max_streams(1_000_000)
                .serve(),
        )
        .expect("tiny server");
}
