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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use futures_util::task::AtomicWaker;
use http_body::Frame as BodyFrame;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::Event;
use super::permit::Permit;
use super::settings::{self, KeepAlive, StreamDefaults};
use crate::metrics::StreamMetrics;

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
    keep_alive: KeepAlive,
    retry: Option<Duration>,
    /// `poll`, `key`, `pg`…: the metrics label.
    mode: &'static str,
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
            keep_alive: KeepAlive::App,
            retry: None,
            mode: "custom",
        }
    }

    /// Names the mode the stream belongs to, for metrics.
    pub(crate) fn with_mode(mut self, mode: &'static str) -> Self {
        self.mode = mode;
        self
    }

    /// Sends a keep-alive comment after `every` without a frame, instead of
    /// the app's default (15 s), so proxies keep the stream and dead peers are
    /// found.
    pub fn keep_alive(self, every: Duration) -> Self {
        self.with_keep_alive(KeepAlive::every(every))
    }

    /// Sends no keep-alive comments on this stream.
    pub fn no_keep_alive(self) -> Self {
        self.with_keep_alive(KeepAlive::Off)
    }

    /// This stream's keep-alive: the app's, its own period, or none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tiny::sse::KeepAlive;
    ///
    /// let stream = tiny::sse()
    ///     .stream(|| async { Some("tick") }, Duration::from_secs(1))
    ///     .with_keep_alive(KeepAlive::Off);
    /// ```
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = keep_alive;
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
        // Refused past a cap before anything is written; the source (a
        // key consumer, a pg subscription) is dropped unread.
        let permit = match defaults.caps.acquire(settings::peer()) {
            Ok(permit) => permit,
            Err(refused) => return refused.into_response(),
        };
        let keep_alive = self.keep_alive.period(defaults.keep_alive);
        let retry = self.retry.or(defaults.retry);
        let mut body = SseBody::new(self.source, keep_alive, retry, defaults.shutdown);
        body.permit = Some(permit);
        body.metrics = Some(StreamMetrics::open(self.mode, settings::controller()));
        let mut response = Response::new(Body::new(body));
        // Sized for the three headers below: hyper keeps a response's
        // header map for the connection's next request, so for an event
        // stream it lives as long as the stream does (a default-sized map
        // holds room for 6 entries, 650 B; this one 330 B). A layer that
        // adds more (CORS) grows it as usual.
        *response.headers_mut() = HeaderMap::with_capacity(3);
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

/// Keep-alive comments after a quiet period. Sending a frame only notes
/// the time; the timer is re-armed when it fires, so a busy stream touches
/// the timer wheel once per period instead of once per frame (a fan-out to
/// 10 000 streams would otherwise reset 10 000 timers per notification).
struct KeepAliveTimer {
    every: Duration,
    /// Made on the first poll, inside the runtime.
    sleep: Option<Pin<Box<Sleep>>>,
    last_frame: Option<Instant>,
}

impl KeepAliveTimer {
    /// Ready when `every` has passed without a frame.
    fn poll_quiet(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let every = self.every;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        loop {
            ready!(sleep.as_mut().poll(cx));
            match self.last_frame.take() {
                // A frame went out since the timer was armed: the quiet
                // period started then.
                Some(at) if at + every > Instant::now() => sleep.as_mut().reset(at + every),
                _ => {
                    sleep.as_mut().reset(Instant::now() + every);
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// The app's shutdown, watched at the cost of two uncontended atomics per
/// poll. Polling the token's future directly takes the token's mutex (and
/// its `Notify`'s) on every poll, and every stream of an app shares that
/// token: under fan-out, thousands of streams would queue on one lock per
/// frame. So the future is polled with a waker of our own, which raises a
/// flag and wakes whichever task polls the body now; the future is polled
/// again only once that flag is up.
struct Shutdown {
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    signal: Arc<ShutdownSignal>,
    registered: bool,
}

#[derive(Default)]
struct ShutdownSignal {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for ShutdownSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Shutdown {
    fn new(token: CancellationToken) -> Self {
        Self {
            cancelled: Box::pin(token.cancelled_owned()),
            signal: Arc::default(),
            registered: false,
        }
    }

    fn is_done(&mut self, cx: &mut Context<'_>) -> bool {
        self.signal.task.register(cx.waker());
        if self.registered && !self.signal.fired.load(Ordering::Acquire) {
            return false;
        }
        // The first poll, or the token woke us.
        self.registered = true;
        self.signal.fired.store(false, Ordering::Relaxed);
        let waker = Waker::from(Arc::clone(&self.signal));
        let mut own = Context::from_waker(&waker);
        self.cancelled.as_mut().poll(&mut own).is_ready()
    }
}

/// The body of every event stream.
struct SseBody {
    source: Source,
    keep_alive: Option<KeepAliveTimer>,
    opening: Option<Bytes>,
    shutdown: Shutdown,
    finished: bool,
    /// This stream's share of the app's caps, released with the body.
    permit: Option<Permit>,
    metrics: Option<StreamMetrics>,
}

impl SseBody {
    fn new(
        source: Source,
        keep_alive: Option<Duration>,
        retry: Option<Duration>,
        shutdown: CancellationToken,
    ) -> Self {
        LIVE_STREAMS.fetch_add(1, Ordering::Relaxed);
        // The opening frame also makes the browser fire `open` right away,
        // before the first event, and proves to proxies the stream is alive.
        let opening = match retry {
            Some(retry) => Bytes::from(format!("retry: {}\n\n", retry.as_millis())),
            None => Bytes::from_static(KEEP_ALIVE_FRAME),
        };
        Self {
            source,
            keep_alive: keep_alive.map(|every| KeepAliveTimer {
                every,
                sleep: None,
                last_frame: None,
            }),
            opening: Some(opening),
            shutdown: Shutdown::new(shutdown),
            finished: false,
            permit: None,
            metrics: None,
        }
    }

    fn sent_a_frame(&mut self) {
        if let Some(keep_alive) = &mut self.keep_alive
            && keep_alive.sleep.is_some()
        {
            keep_alive.last_frame = Some(Instant::now());
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
        let polled = this.poll_bytes(cx);
        if let (Poll::Ready(Some(bytes)), Some(metrics)) = (&polled, &this.metrics) {
            metrics.sent(bytes.len());
        }
        polled.map(|bytes| bytes.map(|bytes| Ok(BodyFrame::data(bytes))))
    }
}

impl SseBody {
    /// The next bytes to write: the opening, a frame, or a keep-alive.
    fn poll_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self;
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(opening) = this.opening.take() {
            return Poll::Ready(Some(opening));
        }
        if this.shutdown.is_done(cx) {
            this.finished = true;
            return Poll::Ready(None);
        }
        loop {
            match this.source.as_mut().poll_next(cx) {
                Poll::Ready(Some(Frame::Encoded(bytes))) => {
                    this.sent_a_frame();
                    return Poll::Ready(Some(bytes));
                }
                Poll::Ready(Some(Frame::Event(event))) => match event.encode() {
                    Ok(bytes) => {
                        // `[DONE]` is written, then the response ends.
                        this.finished = event.is_done();
                        this.sent_a_frame();
                        return Poll::Ready(Some(bytes));
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
            ready!(keep_alive.poll_quiet(cx));
            return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE_FRAME)));
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

    #[tokio::test(start_paused = true)]
    async fn keep_alive_waits_a_full_period_after_the_last_frame() {
        let late = stream::once(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Frame::Event(Event::data("late"))
        });
        let mut body = SseBody::new(
            Box::pin(late.chain(stream::pending())),
            Some(Duration::from_secs(15)),
            None,
            tokio_util::sync::CancellationToken::new(),
        );
        let start = Instant::now();
        next(&mut body).await;
        assert_eq!(next(&mut body).await.unwrap(), "data: late\n\n");
        assert_eq!(next(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(start.elapsed(), Duration::from_secs(25));
        assert_eq!(next(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(start.elapsed(), Duration::from_secs(40));
    }

    #[tokio::test]
    async fn shutdown_ends_a_waiting_body() {
        let token = tokio_util::sync::CancellationToken::new();
        let mut body = SseBody::new(Box::pin(stream::pending()), None, None, token.clone());
        next(&mut body).await;
        let waiting = tokio::spawn(async move { next(&mut body).await });
        tokio::task::yield_now().await;
        token.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(ended.unwrap().unwrap(), None);
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
