//! Prometheus metrics, served on their own address when `TINY_METRICS_ADDR`
//! (or [`App::metrics`](crate::App::metrics)) is set, never on the app's
//! port: what streams are open, what they send, what was refused, replayed
//! or resynced. Labels name controllers and modes, never keys, channels or
//! users, so the number of series stays bounded whatever the traffic.
//!
//! Counting is one atomic add per event: a stream resolves its counters once
//! when it opens.

use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    mode: &'static str,
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

struct Metrics {
    registry: Registry,
    open_streams: Family<StreamLabels, Gauge>,
    frames: Family<StreamLabels, Counter>,
    bytes: Family<StreamLabels, Counter>,
    refused: Family<ReasonLabels, Counter>,
    replayed: Family<ModeLabels, Counter>,
    resyncs: Family<ModeLabels, Counter>,
    lagged: Family<ModeLabels, Counter>,
    key_sends: Family<OutcomeLabels, Counter>,
    pg_reconnects: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("tiny");
    let metrics = Metrics {
        open_streams: Family::default(),
        frames: Family::default(),
        bytes: Family::default(),
        refused: Family::default(),
        replayed: Family::default(),
        resyncs: Family::default(),
        lagged: Family::default(),
        key_sends: Family::default(),
        pg_reconnects: Counter::default(),
        registry: Registry::default(),
    };
    registry.register(
        "open_streams",
        "Event streams open now",
        metrics.open_streams.clone(),
    );
    registry.register(
        "frames_sent",
        "Frames written to event streams",
        metrics.frames.clone(),
    );
    registry.register(
        "bytes_sent",
        "Bytes written to event streams",
        metrics.bytes.clone(),
    );
    registry.register(
        "streams_refused",
        "Streams refused, by reason (max_streams, max_streams_per_ip, origin)",
        metrics.refused.clone(),
    );
    registry.register(
        "events_replayed",
        "Events replayed to a returning client from a history",
        metrics.replayed.clone(),
    );
    registry.register(
        "resyncs",
        "resync events sent: a cursor that could not be honoured, or a backend that reconnected",
        metrics.resyncs.clone(),
    );
    registry.register(
        "lagged",
        "Subscribers that fell behind their backlog and were resynced",
        metrics.lagged.clone(),
    );
    registry.register(
        "key_sends",
        "send_key calls, by outcome (accepted, refused)",
        metrics.key_sends.clone(),
    );
    registry.register(
        "pg_listener_reconnects",
        "Times the PostgreSQL LISTEN connection was re-established",
        metrics.pg_reconnects.clone(),
    );
    Metrics {
        registry,
        ..metrics
    }
});

/// The counters of one open stream; its gauge goes down when dropped.
#[derive(Debug)]
pub(crate) struct StreamMetrics {
    open: Gauge,
    frames: Counter,
    bytes: Counter,
}

impl StreamMetrics {
    /// A stream of `mode` opened by `controller` ("" outside a controller).
    pub(crate) fn open(mode: &'static str, controller: &'static str) -> Self {
        let labels = StreamLabels {
            mode,
            controller: if controller.is_empty() {
                "none"
            } else {
                controller
            },
        };
        let metrics = &*METRICS;
        let open = metrics.open_streams.get_or_create_owned(&labels);
        open.inc();
        Self {
            open,
            frames: metrics.frames.get_or_create_owned(&labels),
            bytes: metrics.bytes.get_or_create_owned(&labels),
        }
    }

    /// One frame of `len` bytes written.
    pub(crate) fn sent(&self, len: usize) {
        self.frames.inc();
        self.bytes.inc_by(len as u64);
    }
}

impl Drop for StreamMetrics {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// A stream refused: `max_streams`, `max_streams_per_ip` or `origin`.
pub(crate) fn refused(reason: &'static str) {
    METRICS
        .refused
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// `count` events replayed from a history to a returning client.
pub(crate) fn replayed(mode: &'static str, count: u64) {
    METRICS
        .replayed
        .get_or_create(&ModeLabels { mode })
        .inc_by(count);
}

/// A `resync` event sent.
pub(crate) fn resynced(mode: &'static str) {
    METRICS.resyncs.get_or_create(&ModeLabels { mode }).inc();
}

/// A subscriber fell behind its backlog.
pub(crate) fn lagged(mode: &'static str) {
    METRICS.lagged.get_or_create(&ModeLabels { mode }).inc();
}

/// A `send_key` call accepted or refused.
pub(crate) fn key_send(accepted: bool) {
    // Looked up once: a send is a hot path, a family lookup takes a lock.
    static SENDS: LazyLock<[Counter; 2]> = LazyLock::new(|| {
        ["accepted", "refused"].map(|outcome| {
            METRICS
                .key_sends
                .get_or_create_owned(&OutcomeLabels { outcome })
        })
    });
    SENDS[usize::from(!accepted)].inc();
}

/// The pg listener re-established its connection.
#[allow(dead_code)] // only with the `postgres` feature
pub(crate) fn pg_reconnected() {
    METRICS.pg_reconnects.inc();
}

/// Every metric, in the Prometheus text format.
fn render() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &METRICS.registry);
    text
}

/// Serves `GET /metrics` on `addr` until `shutdown`; fails when `addr`
/// cannot be bound.
pub(crate) async fn serve(addr: SocketAddr, shutdown: CancellationToken) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        Error::internal(format!(
            "cannot listen for metrics on {addr} (TINY_METRICS_ADDR): {e}"
        ))
    })?;
    let bound = listener.local_addr()?;
    let router = Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                render(),
            )
                .into_response()
        }),
    );
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the metrics server stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_count_while_open_and_frames_add_up() {
        let stream = StreamMetrics::open("poll", "Heartbeat");
        stream.sent(10);
        stream.sent(5);
        let text = render();
        assert!(
            text.contains(r#"tiny_open_streams{mode="poll",controller="Heartbeat"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tiny_bytes_sent_total{mode="poll",controller="Heartbeat"} 15"#),
            "{text}"
        );
        drop(stream);
        assert!(render().contains(r#"tiny_open_streams{mode="poll",controller="Heartbeat"} 0"#));
    }
}
