//! What a stream takes from the app that serves it and from its own
//! attribute: the keep-alive period, the opening `retry:`, and the app's
//! shutdown signal.
//!
//! The app sets its defaults around each request (a task-local scope), and
//! a response reads them when it is built; a stream made outside any app (in
//! a plain axum handler) gets the crate defaults and never sees a shutdown.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::permit::StreamCaps;

/// Keep-alive period of a stream unless the app or the stream sets another.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A stream's keep-alive comments: the app's period, its own, or none.
///
/// ```
/// use std::time::Duration;
/// use tiny::sse::KeepAlive;
///
/// assert_eq!(KeepAlive::every(Duration::ZERO), KeepAlive::Off);
/// assert_eq!(KeepAlive::default(), KeepAlive::App);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeepAlive {
    /// The serving app's period ([`App::keep_alive`](crate::App::keep_alive),
    /// 15 s by default).
    #[default]
    App,
    /// A comment after this long without a frame.
    Every(Duration),
    /// No keep-alive comments.
    Off,
}

impl KeepAlive {
    /// Every `period`; a zero period is [`KeepAlive::Off`].
    pub fn every(period: Duration) -> Self {
        if period.is_zero() {
            KeepAlive::Off
        } else {
            KeepAlive::Every(period)
        }
    }

    /// The period, with [`KeepAlive::App`] read as `app`'s.
    pub(crate) fn period(self, app: Option<Duration>) -> Option<Duration> {
        match self {
            KeepAlive::App => app,
            KeepAlive::Every(period) => Some(period),
            KeepAlive::Off => None,
        }
    }
}

/// The settings an `#[sse(...)]` attribute may carry.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamOptions {
    /// `keep_alive = …`.
    pub keep_alive: KeepAlive,
    /// `retry = …`: the opening `retry:`.
    pub retry: Option<Duration>,
}

impl StreamOptions {
    /// Applies the options to a stream.
    pub(crate) fn apply(self, mut stream: super::EventStream) -> super::EventStream {
        if self.keep_alive != KeepAlive::App {
            stream = stream.with_keep_alive(self.keep_alive);
        }
        if let Some(retry) = self.retry {
            stream = stream.retry(retry);
        }
        stream
    }
}

/// What every stream of an app shares: set by the app around each request.
#[derive(Debug, Clone)]
pub(crate) struct StreamDefaults {
    /// `None`: no keep-alive.
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) retry: Option<Duration>,
    /// Cancelled when the app shuts down: every open stream ends.
    pub(crate) shutdown: CancellationToken,
    /// The app's caps on open streams.
    pub(crate) caps: Arc<StreamCaps>,
}

impl Default for StreamDefaults {
    fn default() -> Self {
        Self {
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            retry: None,
            shutdown: CancellationToken::new(),
            caps: StreamCaps::unlimited(),
        }
    }
}

tokio::task_local! {
    static CURRENT: Scope;
}

struct Scope {
    defaults: StreamDefaults,
    request: RequestScope,
}

/// What the request being answered hands the streams it opens.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestScope {
    /// [`Request::last_event_id`](crate::Request::last_event_id).
    pub(crate) last_event_id: Option<Arc<str>>,
    /// The client's address, for the per-address stream cap.
    pub(crate) peer: Option<IpAddr>,
    /// The controller answering, for metrics labels.
    pub(crate) controller: &'static str,
}

/// Streams made outside any app never see a shutdown signal; they end when
/// their client or their source does.
static DETACHED: LazyLock<StreamDefaults> = LazyLock::new(StreamDefaults::default);

impl StreamDefaults {
    /// The defaults of the app serving the current request.
    pub(crate) fn current() -> Self {
        CURRENT
            .try_with(|scope| scope.defaults.clone())
            .unwrap_or_else(|_| DETACHED.clone())
    }

    /// Runs `future` (a controller call) with these defaults and the
    /// request's resume cursor current.
    pub(crate) async fn scope<F: Future>(self, request: RequestScope, future: F) -> F::Output {
        let scope = Scope {
            defaults: self,
            request,
        };
        CURRENT.scope(scope, future).await
    }
}

/// The address of the client being answered, when the server knows it.
pub(crate) fn peer() -> Option<IpAddr> {
    CURRENT.try_with(|scope| scope.request.peer).ok().flatten()
}

/// The controller answering the current request ("" outside one).
pub(crate) fn controller() -> &'static str {
    CURRENT
        .try_with(|scope| scope.request.controller)
        .unwrap_or("")
}

/// The resume cursor of the request being answered, if any: what a stream
/// opened by that request replays from.
pub(crate) fn last_event_id() -> Option<Arc<str>> {
    CURRENT
        .try_with(|scope| scope.request.last_event_id.clone())
        .ok()
        .flatten()
}
