//! What every stream shares, whatever feeds it: headers, the optional opening
//! `retry:`, keep-alive comments, `[DONE]`, shutdown and disconnect.
//!
//! A stream is an HTTP body ([`SseBody`]) that hyper polls. Each poll takes the
//! next frame from the mode's source and hands it to hyper at once, so a frame
//! is flushed when produced. When the client goes away hyper drops the body,
//! which drops the source: a poll loop stops calling its producer, a key
//! consumer stops taking, a pg subscriber leaves its channel. No frames are
//! buffered here beyond the one being written, so a client that stops reading
//! holds a bounded amount of memory (hyper's write buffer) and, being its own
//! task, delays no one else.

use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use http_body::Frame as BodyFrame;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::Event;
use crate::app::StreamDefaults;

/// One item a stream source yields.
#[derive(Debug)]
pub(crate) enum Frame {
    /// An event, encoded when written.
    Event(Event),
    /// A frame encoded once and shared by every subscriber that receives it.
    #[allow(dead_code)] // the pg fan-out writes shared frames
    Encoded(Bytes),
}

pub(crate) type Source = Pin<Box<dyn Stream<Item = Frame> + Send>>;

static LIVE_STREAMS: AtomicUsize = AtomicUsize::new(0);

/// How many event streams this process is serving right now.
///
/// ```
/// assert_eq!(tiny::sse::live_streams(), 0);
/// ```
pub fn live_streams() -> usize {
    LIVE_STREAMS.load(Ordering::Relaxed)
}

/// A response that streams server-sent events.
///
/// Made by [`Sse::stream`](super::Sse::stream) (and the key and pg modes);
/// returned from a controller method like any response.
///
/// ```
/// use std::time::Duration;
/// use tiny::prelude::*;
///
/// #[controller]
/// pub struct Clock;
///
/// #[controller]
/// impl Clock {
///     fn get(&self) -> tiny::sse::EventStream {
///         tiny::sse()
///             .stream(|| async { Some(unix_time().to_string()) }, Duration::from_secs(1))
///             .keep_alive(Duration::from_secs(30))
///             .retry(Duration::from_secs(2))
///     }
/// }
/// ```
#[must_use = "an EventStream does nothing until returned as a response"]
pub struct EventStream {
    source: Source,
    keep_alive: Option<Option<Duration>>,
    retry: Option<Duration>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("keep_alive", &self.keep_alive)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    pub(crate) fn new(source: Source) -> Self {
        Self {
            source,
            keep_alive: None,
            retry: None,
        }
    }

    /// Sends a keep-alive comment after `every` without a frame, instead of
    /// the app's default (15 s), so proxies keep the stream and dead peers are
    /// found.
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = Some(Some(every).filter(|d| !d.is_zero()));
        self
    }

    /// Sends no keep-alive comments on this stream.
    pub fn no_keep_alive(mut self) -> Self {
        self.keep_alive = Some(None);
        self
    }

    /// Opens the stream with `retry: <ms>`, the browser's reconnection delay.
    pub fn retry(mut self, after: Duration) -> Self {
        self.retry = Some(after);
        self
    }
}

impl IntoResponse for EventStream {
    fn into_response(self) -> Response {
        let defaults = StreamDefaults::current();
        let keep_alive = self.keep_alive.unwrap_or(defaults.keep_alive);
        let retry = self.retry.or(defaults.retry);
        let body = SseBody::new(self.source, keep_alive, retry, defaults.shutdown);
        let mut response = Body::new(body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
}

struct KeepAlive {
    every: Duration,
    sleep: Pin<Box<Sleep>>,
}

/// The body of every event stream.
struct SseBody {
    source: Source,
    keep_alive: Option<KeepAlive>,
    opening: Option<Bytes>,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    finished: bool,
}

impl SseBody {
    fn new(
        source: Source,
        keep_alive: Option<Duration>,
        retry: Option<Duration>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        LIVE_STREAMS.fetch_add(1, Ordering::Relaxed);
        // The opening frame also makes the browser fire `open` right away,
        // before the first event, and proves to proxies the stream is alive.
        let opening = match retry {
            Some(retry) => format!("retry: {}\n\n", retry.as_millis()),
            None => ":\n\n".to_owned(),
        };
        Self {
            source,
            keep_alive: keep_alive.map(|every| KeepAlive {
                every,
                sleep: Box::pin(tokio::time::sleep(every)),
            }),
            opening: Some(Bytes::from(opening)),
            shutdown: Box::pin(shutdown.cancelled_owned()),
            finished: false,
        }
    }

    fn sent_a_frame(&mut self) {
        if let Some(keep_alive) = &mut self.keep_alive {
            keep_alive
                .sleep
                .as_mut()
                .reset(Instant::now() + keep_alive.every);
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        LIVE_STREAMS.fetch_sub(1, Ordering::Relaxed);
    }
}

const KEEP_ALIVE_FRAME: &[u8] = b":\n\n";

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(opening) = this.opening.take() {
            return Poll::Ready(Some(Ok(BodyFrame::data(opening))));
        }
        if this.shutdown.as_mut().poll(cx).is_ready() {
            this.finished = true;
            return Poll::Ready(None);
        }
        loop {
            match this.source.as_mut().poll_next(cx) {
                Poll::Ready(Some(Frame::Encoded(bytes))) => {
                    this.sent_a_frame();
                    return Poll::Ready(Some(Ok(BodyFrame::data(bytes))));
                }
                Poll::Ready(Some(Frame::Event(event))) => match event.encode() {
                    Ok(bytes) => {
                        // `[DONE]` is written, then the response ends.
                        this.finished = event.is_done();
                        this.sent_a_frame();
                        return Poll::Ready(Some(Ok(BodyFrame::data(bytes))));
                    }
                    Err(error) => {
                        tracing::error!(%error, "event not sent");
                    }
                },
                Poll::Ready(None) => {
                    this.finished = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        if let Some(keep_alive) = &mut this.keep_alive {
            ready!(keep_alive.sleep.as_mut().poll(cx));
            this.sent_a_frame();
            return Poll::Ready(Some(Ok(BodyFrame::data(Bytes::from_static(
                KEEP_ALIVE_FRAME,
            )))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{StreamExt as _, stream};
    use http_body_util::BodyExt;

    fn body(frames: Vec<Frame>, keep_alive: Option<Duration>) -> SseBody {
        SseBody::new(
            Box::pin(stream::iter(frames).chain(stream::pending())),
            keep_alive,
            None,
            tokio_util::sync::CancellationToken::new(),
        )
    }

    async fn next(body: &mut SseBody) -> Option<Bytes> {
        body.frame().await.map(|f| f.unwrap().into_data().unwrap())
    }

    #[tokio::test]
    async fn done_is_written_then_the_body_ends() {
        let mut body = body(
            vec![
                Frame::Event(Event::data("a")),
                Frame::Event(Event::data(super::super::DONE)),
            ],
            None,
        );
        assert_eq!(next(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(next(&mut body).await.unwrap(), "data: a\n\n");
        assert_eq!(next(&mut body).await.unwrap(), "data: [DONE]\n\n");
        assert_eq!(next(&mut body).await, None);
    }

    #[tokio::test]
    async fn invalid_events_are_skipped_not_written() {
        let mut body = body(
            vec![
                Frame::Event(Event::data("x").event("a\nb")),
                Frame::Event(Event::data("ok")),
            ],
            None,
        );
        next(&mut body).await;
        assert_eq!(next(&mut body).await.unwrap(), "data: ok\n\n");
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_comes_after_a_quiet_period() {
        let mut body = body(vec![], Some(Duration::from_secs(15)));
        next(&mut body).await;
        let before = Instant::now();
        assert_eq!(next(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(before.elapsed(), Duration::from_secs(15));
    }

    #[tokio::test]
    async fn shutdown_ends_the_body() {
        let token = tokio_util::sync::CancellationToken::new();
        let mut body = SseBody::new(Box::pin(stream::pending()), None, None, token.clone());
        next(&mut body).await;
        token.cancel();
        assert_eq!(next(&mut body).await, None);
    }
}
