//! Poll mode: a producer called at once, then every period; each `Some` is a frame.

use std::future::Future;
use std::time::Duration;

use axum::response::{IntoResponse as _, Response};
use futures_util::{Stream, StreamExt as _};
use tokio::time::{Interval, MissedTickBehavior, interval};

use super::event::IntoEvent;
use super::response::{EventStream, Frame};
use super::settings::StreamOptions;
use crate::request::Request;

/// `#[sse(poll = …)]`: the method is the producer.
pub fn poll_stream<F, Fut, T>(produce: F, every: Duration, options: StreamOptions) -> Response
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Option<T>> + Send + 'static,
    T: IntoEvent + 'static,
{
    options.apply(stream(produce, every)).into_response()
}

/// The request a poll producer keeps for the stream's life, copied out of
/// the connection's read buffer so the stream does not pin it
/// (`Request::detached`).
pub fn hold_request(req: Request) -> Request {
    req.detached()
}

/// The stream behind [`Sse::stream`](super::Sse::stream).
pub(crate) fn stream<F, Fut, T>(produce: F, every: Duration) -> EventStream
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Option<T>> + Send + 'static,
    T: IntoEvent + 'static,
{
    EventStream::new(Box::pin(source(produce, every))).with_mode("poll")
}

/// The frames of a poll stream. The producer is called only while the
/// stream is polled: once the client is gone and hyper drops the body, the
/// next call never happens.
fn source<F, Fut, T>(produce: F, every: Duration) -> impl Stream<Item = Frame> + Send
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Option<T>> + Send + 'static,
    T: IntoEvent + 'static,
{
    // The timer is made on the first poll, inside the runtime, so building
    // a stream outside one (in a test, before serving) is fine.
    let period = every.max(Duration::from_millis(1));
    futures_util::stream::unfold((produce, None), move |(mut produce, ticks)| async move {
        let mut ticks: Interval = ticks.unwrap_or_else(|| {
            let mut ticks = interval(period);
            // A slow producer delays the next call instead of triggering a burst.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        loop {
            ticks.tick().await;
            let Some(value) = produce().await else {
                continue;
            };
            match value.into_event() {
                Ok(event) => return Some((Frame::Event(event), (produce, Some(ticks)))),
                Err(error) => {
                    tracing::error!(%error, "poll producer returned an event that cannot be sent")
                }
            }
        }
    })
    .fuse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn called_at_once_then_every_period() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let start = Instant::now();
        let frames = source(
            move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move { (n % 2 == 0).then(|| n.to_string()) }
            },
            Duration::from_secs(5),
        );
        futures_util::pin_mut!(frames);
        let first = frames.next().await.unwrap();
        assert!(matches!(first, Frame::Event(ref e) if e.data_ref() == Some("0")));
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Call 1 returns None and sends nothing; call 2 is the next frame.
        let second = frames.next().await.unwrap();
        assert!(matches!(second, Frame::Event(ref e) if e.data_ref() == Some("2")));
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
