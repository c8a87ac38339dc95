//! `App`: finds every `#[controller]` of the binary, builds the router, serves
//! it, and shuts down cleanly.
//!
//! tiny has no route table: each `#[controller]` registers itself at link
//! time (through `inventory`) and [`App::new`] mounts them all. An open event
//! stream would keep hyper's graceful shutdown waiting forever (axum #2673,
//! hyper #2787), so the app owns a cancellation token that every stream it
//! serves watches: on SIGINT/SIGTERM the token fires, streams end, and the
//! server drains.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Uri;
use axum::middleware::AddExtension;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route, any};
use axum::{Extension, Router};
use futures_util::FutureExt as _;
use futures_util::future::{Either, OptionFuture};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower_layer::Layer;
use tower_service::Service;

use crate::connection::{self, Reserve, TimedWrites};
use crate::controller::{Controller, Serving, dispatch};
use crate::cors::Cors;
use crate::h2c::{self, Protocol};
use crate::limits::{Configured, DEFAULT_HEADER_TIMEOUT, Limits, MAX_HEAD_BYTES};
use crate::sse::{StreamCaps, StreamDefaults};
use crate::tls::{self, Tls};
use crate::{Error, Result};

/// The address [`App::serve`] binds when `TINY_ADDR` is unset.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Largest request body read before a controller runs, unless set otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Bytes an HTTP/2 stream may queue while its flow-control window is shut.
const H2_SEND_BUFFER: usize = 64 * 1024;

/// A controller as the registry and [`App::mount`] hold it.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Registration {
    path: &'static str,
    name: &'static str,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    uses_postgres: bool,
    states: fn() -> Vec<(std::any::TypeId, &'static str)>,
    route: fn(Arc<Serving>) -> MethodRouter,
}

impl Registration {
    /// The registration of `T`; `#[controller]` submits one per struct.
    pub const fn of<T: Controller>() -> Self {
        Self {
            path: T::PATH,
            name: T::NAME,
            uses_postgres: T::USES_POSTGRES,
            states: T::states,
            route: route::<T>,
        }
    }
}

inventory::collect!(Registration);

fn route<T: Controller>(serving: Arc<Serving>) -> MethodRouter {
    // One instance serves every request, as in tiny's controllers.
    let controller = Arc::new(T::build());
    any(move |req: axum::extract::Request| dispatch(controller.clone(), serving.clone(), req))
}

/// One [`App::layer`], applied to a router.
type ApplyLayer = Arc<dyn Fn(Router) -> Router + Send + Sync>;

/// A tiny application: a set of controllers and the settings their streams share.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> tiny::Result<()> {
///     tiny::App::new().serve().await
/// }
/// ```
pub struct App {
    controllers: Vec<Registration>,
    defaults: StreamDefaults,
    body_limit: usize,
    limits: Configured,
    /// `None`: `TINY_CORS_ORIGINS`.
    cors: Option<Vec<String>>,
    /// `None`: `TINY_METRICS_ADDR`, else no metrics.
    metrics: Option<SocketAddr>,
    /// `None`: `TINY_ADDR`, else [`DEFAULT_ADDR`].
    addr: Option<SocketAddr>,
    /// `None`: `TINY_MESSAGE_MAX_BYTES`, else the default.
    message_max_bytes: Option<usize>,
    /// What `State<T>` arguments get ([`App::manage`]). Asserted unwind
    /// safe as the layers are: the values are only handed out, never
    /// changed by tiny, so a panic leaves nothing half-changed.
    states: AssertUnwindSafe<crate::state::States>,
    /// `None`: `TINY_TLS_CERT` and `TINY_TLS_KEY`, else plain HTTP.
    tls: Option<tls::Files>,
    /// Applied to the router, in order, by [`App::layer`]. Asserted unwind
    /// safe: a layer only builds services, so a panic while applying one
    /// leaves no shared state half-changed, and `App` stays `UnwindSafe`.
    layers: Vec<AssertUnwindSafe<ApplyLayer>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.controllers.iter().map(|c| (c.name, c.path)).collect();
        f.debug_struct("App")
            .field("controllers", &names)
            .field("keep_alive", &self.defaults.keep_alive)
            .field("retry", &self.defaults.retry)
            .field("body_limit", &self.body_limit)
            .field("limits", &self.limits)
            .field("cors", &self.cors)
            .field("tls", &self.tls)
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl App {
    /// An app with every `#[controller]` linked into the binary: those of
    /// the binary's own crate, and those of each library crate it names
    /// (`use my_controllers as _;` is enough, see
    /// [Controllers in a library crate](crate#controllers-in-a-library-crate)).
    pub fn new() -> Self {
        let mut app = Self::empty();
        app.controllers = inventory::iter::<Registration>
            .into_iter()
            .copied()
            .collect();
        app.controllers.sort_by_key(|c| (c.path, c.name));
        app
    }

    /// An app with no controller; add them with [`App::mount`].
    pub fn empty() -> Self {
        Self {
            controllers: Vec::new(),
            defaults: StreamDefaults::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            limits: Configured::default(),
            cors: None,
            metrics: None,
            addr: None,
            message_max_bytes: None,
            states: AssertUnwindSafe(crate::state::States::default()),
            tls: None,
            layers: Vec::new(),
        }
    }

    /// Adds controller `T` (mounting the same controller twice adds it once).
    ///
    /// ```
    /// use tiny::prelude::*;
    ///
    /// #[controller]
    /// pub struct Ping;
    ///
    /// #[controller]
    /// impl Ping {
    ///     fn get(&self) -> &'static str { "pong" }
    /// }
    ///
    /// let app = tiny::App::empty().mount::<Ping>();
    /// ```
    pub fn mount<T: Controller>(mut self) -> Self {
        let registration = Registration::of::<T>();
        if !self
            .controllers
            .iter()
            .any(|c| c.name == registration.name && c.path == registration.path)
        {
            self.controllers.push(registration);
        }
        self
    }

    /// The keep-alive period of every stream of this app (default 15 s); a
    /// stream may set its own.
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.defaults.keep_alive = Some(every).filter(|d| !d.is_zero());
        self
    }

    /// Opens every stream with `retry: <ms>`, the browser's reconnection delay.
    pub fn retry(mut self, after: Duration) -> Self {
        self.defaults.retry = Some(after);
        self
    }

    /// The largest request body read before a controller runs (default 2 MiB);
    /// a larger one is answered 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Ends a connection whose writes make no progress for `limit` (default
    /// 30 s, or `TINY_WRITE_TIMEOUT`): a client that stopped reading, or a
    /// peer that vanished, stops holding a stream. Key messages it held stay
    /// pending for its lineage and are replayed when it returns. Applies to
    /// [`App::serve`] and [`App::run`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = tiny::App::new().write_timeout(Duration::from_secs(10));
    /// ```
    pub fn write_timeout(mut self, limit: Duration) -> Self {
        self.limits.write_timeout = Some(limit.max(Duration::from_millis(1)));
        self
    }

    /// How long a client may take to send a request body (default 30 s, or
    /// `TINY_BODY_TIMEOUT`); a slower one is answered 408 and the connection
    /// closed, so a body trickled byte by byte cannot hold a task forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = tiny::App::new().body_timeout(Duration::from_secs(10));
    /// ```
    pub fn body_timeout(mut self, limit: Duration) -> Self {
        self.limits.body_timeout = Some(limit.max(Duration::from_millis(1)));
        self
    }

    /// Allows pages from these origins (exact `scheme://host[:port]`) to call
    /// the app from a browser, with credentials, instead of
    /// `TINY_CORS_ORIGINS`. By default no other origin may: a request whose
    /// `Origin` is neither the server's own (its `Host`) nor listed is
    /// answered 403 before any guard, queue or listener runs. Behind a proxy
    /// that rewrites `Host`, have it pass the original (`proxy_set_header
    /// Host $host;` in nginx) or list the public origin here.
    ///
    /// ```
    /// let app = tiny::App::new().cors(["https://app.example.com"]);
    /// ```
    pub fn cors<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cors = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Wraps every route of the app in a tower layer (tracing, timeouts,
    /// auth, compression…), as `axum::Router::layer` does, while keeping
    /// tiny's serve, shutdown and start-up checks. Layers added later wrap
    /// earlier ones. A compression layer must skip `text/event-stream`
    /// (tower-http's default predicate does).
    ///
    /// ```
    /// use tiny::http::{HeaderValue, header};
    ///
    /// let app = tiny::App::new().layer(axum::middleware::map_response(
    ///     |mut response: axum::response::Response| async move {
    ///         response.headers_mut().insert(header::SERVER, HeaderValue::from_static("tiny"));
    ///         response
    ///     },
    /// ));
    /// ```
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<axum::extract::Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<axum::extract::Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.layers
            .push(AssertUnwindSafe(Arc::new(move |router: Router| {
                router.layer(layer.clone())
            })));
        self
    }

    /// Hands `value` to every controller method that takes a
    /// [`State<T>`](crate::State) of its type (one value per type; a second
    /// replaces the first). An app that mounts a controller asking for a
    /// `State<T>` it does not manage refuses to start ([`App::serve`],
    /// [`App::try_router`]), naming `T` and the controller.
    ///
    /// ```
    /// pub struct Config { pub greeting: String }
    ///
    /// let app = tiny::App::new().manage(Config { greeting: "hello".into() });
    /// ```
    pub fn manage<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// The largest message, in bytes, `send_key` and `publish` accept in
    /// this process (default 64 KiB, or `TINY_MESSAGE_MAX_BYTES`); a larger
    /// one is refused with 413. Applies from when the app builds its router
    /// ([`App::serve`], [`App::run`], [`App::router`]).
    ///
    /// ```
    /// let app = tiny::App::new().message_max_bytes(16 * 1024);
    /// ```
    pub fn message_max_bytes(mut self, bytes: usize) -> Self {
        self.message_max_bytes = Some(bytes.max(1));
        self
    }

    /// The address [`App::serve`] binds, instead of `TINY_ADDR`.
    ///
    /// ```
    /// let app = tiny::App::new().addr("0.0.0.0:3000".parse().unwrap());
    /// ```
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Serves HTTPS with the certificate chain and private key in these PEM
    /// files, instead of `TINY_TLS_CERT` and `TINY_TLS_KEY`. Clients that
    /// offer HTTP/2 by ALPN (every browser) get it, others HTTP/1.1: over
    /// HTTP/1.1 a browser opens at most six streams per host, over HTTP/2
    /// one connection carries up to [`App::h2_max_streams`]. The files are
    /// read, and the key checked against the certificate, before the app
    /// binds; they are read again on SIGHUP, so a renewed certificate is
    /// taken without a restart.
    ///
    /// ```
    /// let app = tiny::App::new().tls("/etc/tiny/fullchain.pem", "/etc/tiny/privkey.pem");
    /// ```
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(tls::Files::new(cert.into(), key.into()));
        self
    }

    /// At most `streams` open at once on one HTTP/2 connection (default
    /// 256, or `TINY_H2_MAX_STREAMS`); the client queues the others. Streams
    /// still count against [`App::max_streams`] one by one.
    ///
    /// ```
    /// let app = tiny::App::new().h2_max_streams(100);
    /// ```
    pub fn h2_max_streams(mut self, streams: u32) -> Self {
        self.limits.h2_max_streams = Some(streams.max(1));
        self
    }

    /// How often an HTTP/2 connection PINGs its peer (default 20 s, or
    /// `TINY_H2_KEEP_ALIVE`); a PING unanswered for as long again closes
    /// the connection and ends its streams, so a peer gone silent (a
    /// laptop closed, a network gone) is found within twice `every`. A
    /// zero duration keeps the default.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let app = tiny::App::new().h2_keep_alive(Duration::from_secs(10));
    /// ```
    pub fn h2_keep_alive(mut self, every: Duration) -> Self {
        self.limits.h2_keep_alive = Some(every).filter(|d| !d.is_zero());
        self
    }

    /// Waits for SIGINT or SIGTERM, then ends every stream of this app:
    /// the one call that gives an app nested in your own axum server a
    /// graceful shutdown (an open stream would otherwise hold axum's drain
    /// forever, axum #2673).
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let app = tiny::App::new();
    /// let router = axum::Router::new().nest("/live", app.router());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// axum::serve(listener, router)
    ///     .with_graceful_shutdown(app.graceful_shutdown())
    ///     .await
    /// # }
    /// ```
    pub fn graceful_shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let token = self.shutdown_token();
        async move {
            shutdown_signal().await;
            token.cancel();
        }
    }

    /// Serves Prometheus metrics at `http://ADDR/metrics`, on an address of
    /// their own, never on the app's (default: `TINY_METRICS_ADDR`, else
    /// none): open streams by mode and controller, frames and bytes sent,
    /// streams refused by reason, replays, resyncs, key sends, pg listener
    /// reconnects.
    ///
    /// ```
    /// let app = tiny::App::new().metrics("127.0.0.1:9100".parse().unwrap());
    /// ```
    pub fn metrics(mut self, addr: SocketAddr) -> Self {
        self.metrics = Some(addr);
        self
    }

    /// At most `streams` open at once (default 90 % of the process's file
    /// descriptor limit, or `TINY_MAX_STREAMS`); past it a stream is
    /// answered 503 with `Retry-After`, and the descriptors left over keep
    /// serving ordinary requests.
    ///
    /// ```
    /// let app = tiny::App::new().max_streams(50_000);
    /// ```
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.limits.max_streams = Some(streams);
        self
    }

    /// At most `streams` open at once per client address (off by default,
    /// or `TINY_MAX_STREAMS_PER_IP`; 0 turns it off); past it, 429 with
    /// `Retry-After`. Off by default because users behind one NAT or proxy
    /// share an address: behind a proxy every client has the proxy's.
    ///
    /// ```
    /// let app = tiny::App::new().max_streams_per_ip(20);
    /// ```
    pub fn max_streams_per_ip(mut self, streams: usize) -> Self {
        self.limits.max_streams_per_ip = Some(streams);
        self
    }

    /// How long shutdown waits (default 10 s, or `TINY_SHUTDOWN_TIMEOUT`)
    /// for connections to finish after streams were told to end; then the
    /// rest are closed and [`App::serve`] returns `Ok`. It never hangs.
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = tiny::App::new().shutdown_timeout(Duration::from_secs(3));
    /// ```
    pub fn shutdown_timeout(mut self, limit: Duration) -> Self {
        self.limits.shutdown_timeout = Some(limit);
        self
    }

    /// The token that ends every stream of this app when cancelled;
    /// [`App::serve`] cancels it on SIGINT/SIGTERM. Cancel it yourself when
    /// the app is nested in your own server.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.defaults.shutdown.clone()
    }

    /// The routes of every controller, as an `axum::Router` to serve or to
    /// nest in an existing axum app with its own layers.
    ///
    /// A malformed `TINY_…` limit or `TINY_CORS_ORIGINS` is logged and its
    /// default used (no cross origin allowed); [`App::try_router`] returns
    /// it as an error instead, and [`App::serve`] refuses to start.
    ///
    /// # Panics
    ///
    /// When two different controllers claim the same path, like axum's own
    /// router does for overlapping routes; [`App::try_router`] returns that
    /// as an error instead.
    pub fn router(&self) -> Router {
        let limits = self.limits.resolve().unwrap_or_else(|error| {
            tracing::error!(%error, "using the default limits");
            Limits::default()
        });
        let cors = self.resolve_cors().unwrap_or_else(|error| {
            tracing::error!(%error, "allowing no cross origin");
            Cors::default()
        });
        match self.routes(&limits, cors) {
            Ok(router) => router,
            Err(error) => panic!("{error}"),
        }
    }

    /// [`App::router`], with two controllers on one path, or a malformed
    /// `TINY_…` limit, as an `Err`.
    pub fn try_router(&self) -> Result<Router> {
        self.routes(&self.limits.resolve()?, self.resolve_cors()?)
    }

    /// The builder's origins, else `TINY_CORS_ORIGINS`.
    fn resolve_cors(&self) -> Result<Cors> {
        match &self.cors {
            Some(origins) => Cors::parse(&origins.join(","), "App::cors"),
            None => Cors::from_env(),
        }
    }

    /// The router; fails only when two controllers claim one path.
    fn routes(&self, limits: &Limits, cors: Cors) -> Result<Router> {
        if let Some(bytes) = self.message_max_bytes {
            crate::sse::set_message_max_bytes(bytes);
        }
        let mut streams = self.defaults.clone();
        streams.caps = StreamCaps::new(limits.max_streams, limits.max_streams_per_ip);
        let serving = Arc::new(Serving {
            streams,
            body_limit: self.body_limit,
            body_timeout: limits.body_timeout,
            cors,
            states: Arc::new(self.states.0.clone()),
        });
        let mut router = Router::new();
        let mut seen: Vec<&Registration> = Vec::with_capacity(self.controllers.len());
        for controller in &self.controllers {
            if let Some((_, name)) = (controller.states)()
                .into_iter()
                .find(|(type_id, _)| !self.states.contains(*type_id))
            {
                return Err(Error::internal(format!(
                    "controller `{}` takes `State<{name}>`, but the app manages no `{name}`: \
                     add App::manage(…) with one before serving",
                    controller.name
                )));
            }
            if let Some(other) = seen.iter().find(|c| c.path == controller.path) {
                return Err(Error::internal(format!(
                    "controllers `{}` and `{}` both answer `{}`; give one of them \
                     #[controller(path = \"…\")]",
                    other.name, controller.name, controller.path
                )));
            }
            seen.push(controller);
            let method_router = (controller.route)(Arc::clone(&serving));
            if controller.path == "/" {
                // Home answers only `/`: as a catch-all it would hide every 404.
                router = router.route("/", method_router);
            } else {
                // The path itself, with a trailing slash, and every deeper path.
                router = router
                    .route(controller.path, method_router.clone())
                    .route(&format!("{}/", controller.path), method_router.clone())
                    .route(&format!("{}/{{*rest}}", controller.path), method_router);
            }
        }
        Ok(self
            .layers
            .iter()
            .fold(router, |router, layer| layer(router)))
    }

    /// Binds `TINY_ADDR` (default `127.0.0.1:8080`), prints
    /// `listening on http://ADDR` on stdout (`https://` with
    /// [`App::tls`]), and serves until SIGINT or SIGTERM; then open streams
    /// end and the server drains.
    ///
    /// Fails before listening when `TINY_ADDR` is malformed, when the TLS
    /// certificate or key is unreadable or the key does not match, or when
    /// `TINY_CACHE_URL` is set but unusable (malformed, Redis unreachable).
    pub async fn serve(self) -> Result<()> {
        init_tracing();
        self.check_environment()?;
        // Two controllers on one path, a malformed limit: refused before
        // binding or printing anything.
        let _checked = self.try_router()?;
        let tls = self.resolve_tls()?;
        let addr = match self.addr {
            Some(addr) => addr,
            None => {
                let addr = std::env::var("TINY_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
                addr.parse().map_err(|e| {
                    Error::internal(format!(
                        "TINY_ADDR `{addr}` is not an address like 127.0.0.1:8080: {e}"
                    ))
                })?
            }
        };
        check_cache().await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::internal(format!("cannot listen on {addr}: {e}")).with_source(e))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("listening on {scheme}://{}", listener.local_addr()?);
        self.serve_on(listener, shutdown_signal(), tls).await
    }

    /// Serves on `listener` until `shutdown` completes; then open streams end
    /// and the server drains, for at most the shutdown timeout (10 s by
    /// default), after which the remaining connections are closed.
    /// [`App::serve`] is this with `TINY_ADDR` and the process signals.
    ///
    /// Connections are served by hyper's HTTP/1.1 and HTTP/2 connection
    /// builders rather than `axum::serve`, for control over what an open
    /// stream costs: no upgrade machinery and no buffer or wrapper for
    /// protocol detection per connection (see BENCHMARKS.md for the
    /// figures), request heads up to [`MAX_HEAD_BYTES`](crate::MAX_HEAD_BYTES)
    /// (431 past it) read within 30 s, TCP keepalive, and the write timeout.
    /// Protocol upgrades (WebSockets) are not served; nest [`App::router`]
    /// in your own server for those.
    ///
    /// On the plain port a connection that opens with the HTTP/2 preface
    /// (prior knowledge, as a proxy configured for h2c or `curl
    /// --http2-prior-knowledge` sends it) is served HTTP/2, any other
    /// HTTP/1.1; a client that sends nothing is closed after 30 s. With
    /// [`App::tls`] (or `TINY_TLS_CERT`), connections are TLS and the
    /// protocol is the one ALPN chose: HTTP/2 for `h2`, else HTTP/1.1. HTTP/2
    /// connections PING their peer and carry at most [`App::h2_max_streams`]
    /// streams each, and on shutdown they are sent GOAWAY.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let tls = self.resolve_tls()?;
        self.serve_on(listener, shutdown, tls).await
    }

    /// The TLS files, loaded and checked: the builder's, else the
    /// environment's, else none. SIGHUP is caught from here on, before
    /// [`App::serve`] prints its address, so a reload sent as soon as the
    /// line appears never ends the process.
    fn resolve_tls(&self) -> Result<Option<Tls>> {
        let files = match &self.tls {
            Some(files) => Some(files.clone()),
            None => tls::Files::from_env()?,
        };
        let Some(files) = files else {
            return Ok(None);
        };
        let mut tls = Tls::load(files)?;
        tls.catch_hangups();
        Ok(Some(tls))
    }

    async fn serve_on(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        mut tls: Option<Tls>,
    ) -> Result<()> {
        self.check_environment()?;
        let limits = self.limits.resolve()?;
        let write_timeout = limits.write_timeout;
        let router = self.try_router()?.fallback(not_found);
        let token = self.shutdown_token();
        if let Some(addr) = self.metrics_addr()? {
            let bound = crate::metrics::serve(addr, token.clone()).await?;
            tracing::info!("metrics on http://{bound}/metrics");
        }
        let mut http = http1::Builder::new();
        http.max_buf_size(MAX_HEAD_BYTES)
            // Frames are copied into the 8 KiB head buffer every connection
            // has anyway and written with one `write`, instead of queued for
            // `writev`: the queue is one more allocation (320 B) that an
            // open stream would keep for its whole life (BENCHMARKS.md,
            // "Memory per idle stream").
            .writev(false)
            .timer(TokioTimer::new())
            .header_read_timeout(DEFAULT_HEADER_TIMEOUT);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .keep_alive_interval(Some(limits.h2_keep_alive))
            .keep_alive_timeout(limits.h2_keep_alive)
            .max_concurrent_streams(limits.h2_max_streams)
            .max_header_list_size(MAX_HEAD_BYTES as u32)
            // Bytes queued per stream while the client's flow-control
            // window is closed (h2's default is 400 KiB): with 256 streams
            // a connection that stops reading holds at most 16 MiB.
            .max_send_buf_size(H2_SEND_BUFFER);
        if let Some(tls) = &mut tls {
            tls.reload_on_hangup(token.clone());
        }
        let graceful = GracefulShutdown::new();
        // Every connection's task, so the ones still open at the shutdown
        // deadline can be closed; finished ones are reaped on each accept.
        let mut connections = JoinSet::new();
        let mut reserve = Reserve::new();
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        reserve.accept_failed(error, &listener).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            while connections.try_join_next().is_some() {}
            connection::configure(&tcp, write_timeout);
            // Under TLS too: the timeout watches the socket's writes.
            let io = TimedWrites::new(tcp, write_timeout);
            // The client's address, for the per-address stream cap and for
            // handlers (axum's `ConnectInfo`).
            let service = Extension(ConnectInfo(peer)).layer(router.clone());
            let service = TowerToHyperService::new(service);
            let Some(tls) = &tls else {
                let (h1, h2, watcher) = (http.clone(), h2.clone(), graceful.watcher());
                connections.spawn(serve_plain(io, service, h1, h2, watcher, token.clone()));
                continue;
            };
            // The handshake runs in the connection's task, never in the
            // accept loop: a slow client must not hold up the next one.
            let acceptor = tls.acceptor().clone();
            let (h1, h2, watcher, token) =
                (http.clone(), h2.clone(), graceful.watcher(), token.clone());
            connections.spawn(async move {
                let handshake = tokio::time::timeout(DEFAULT_HEADER_TIMEOUT, acceptor.accept(io));
                let stream = tokio::select! {
                    () = token.cancelled() => return,
                    done = handshake => match done {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake not done within 30 s: closed");
                            return;
                        }
                    },
                };
                let protocol = if tls::negotiated_h2(stream.get_ref().1) {
                    Protocol::Http2
                } else {
                    Protocol::Http1
                };
                serve_as(protocol, TokioIo::new(stream), service, h1, h2, watcher).await;
            });
        }
        drop(listener);
        tracing::info!("shutting down: ending open streams");
        // Open streams would keep their connections (and so the drain) alive
        // forever: the token ends them; idle connections close at once. A
        // connection that cannot finish (a client that stopped reading, a
        // body still trickling in) is closed at the deadline.
        token.cancel();
        let drained = tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await;
        if drained.is_err() {
            tracing::warn!(
                open = connections.len(),
                deadline = ?limits.shutdown_timeout,
                "connections still open at the shutdown deadline (TINY_SHUTDOWN_TIMEOUT): closing them"
            );
            connections.abort_all();
        }
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

/// What serves each connection: the app's router, with the client's address.
type ConnectionService = TowerToHyperService<AddExtension<Router, ConnectInfo<SocketAddr>>>;

/// Serves a plain-port connection: HTTP/2 when it opens with the preface
/// (prior knowledge, h2c), else HTTP/1.1.
///
/// Combinators, not an `async` block: a block awaiting the connection it
/// made keeps room for the connection beside what it held before, in a task
/// that an open stream holds for its whole life (1.9 KB instead of 1 KB).
fn serve_plain(
    io: TimedWrites<TcpStream>,
    service: ConnectionService,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    watcher: Watcher,
    token: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    protocol_of(io, token)
        .then(move |sniffed| {
            OptionFuture::from(sniffed.map(|(protocol, io)| {
                serve_as(protocol, TokioIo::new(io), service, h1, h2, watcher)
            }))
        })
        .map(drop)
}

/// Serves one connection in `protocol`, watched for graceful shutdown (on
/// either port). The HTTP/2 connection is boxed: twice the size of an
/// HTTP/1.1 one, it would otherwise size the task of every connection.
fn serve_as<I>(
    protocol: Protocol,
    io: I,
    service: ConnectionService,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    watcher: Watcher,
) -> impl Future<Output = ()> + Send + 'static
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    match protocol {
        Protocol::Http1 => Either::Left(watcher.watch(h1.serve_connection(io, service))),
        Protocol::Http2 => Either::Right(Box::pin(watcher.watch(h2.serve_connection(io, service)))),
    }
    .map(|served| {
        if let Err(error) = served {
            tracing::debug!(%error, "connection ended with an error");
        }
    })
}

/// The protocol of a plain-port connection, from its first bytes, peeked in
/// the connection's task, never in the accept loop, so that a slow client
/// holds up no other. `None` to close it: the client closed, sent no request
/// within 30 s, or the app is shutting down.
// A block, not an `async fn`: an `async fn` keeps room for its arguments
// and for their moved copies, the socket twice (72 B more in every task).
#[allow(clippy::manual_async_fn)]
fn protocol_of(
    io: TimedWrites<TcpStream>,
    token: CancellationToken,
) -> impl Future<Output = Option<(Protocol, TimedWrites<TcpStream>)>> {
    async move {
        let sniffing = tokio::time::timeout(DEFAULT_HEADER_TIMEOUT, h2c::sniff(io.get_ref()));
        let protocol = tokio::select! {
            () = token.cancelled() => None,
            sniffed = sniffing => match sniffed {
                Ok(Ok(protocol)) => protocol,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "connection ended before its first request");
                    None
                }
                Err(_) => {
                    tracing::debug!("no request within 30 s: closed");
                    None
                }
            },
        };
        protocol.map(|protocol| (protocol, io))
    }
}

/// With `TINY_CACHE_URL` set, the cache must be usable before the first
/// request: a malformed URL or an unreachable Redis stops the start.
async fn check_cache() -> Result<()> {
    if std::env::var_os("TINY_CACHE_URL").is_none() {
        return Ok(());
    }
    crate::try_cache()?.ping().await
}

impl App {
    /// The metrics address: the builder's, else `TINY_METRICS_ADDR`.
    fn metrics_addr(&self) -> Result<Option<SocketAddr>> {
        if let Some(addr) = self.metrics {
            return Ok(Some(addr));
        }
        match std::env::var("TINY_METRICS_ADDR") {
            Ok(text) if !text.trim().is_empty() => text.trim().parse().map(Some).map_err(|e| {
                Error::internal(format!(
                    "TINY_METRICS_ADDR `{text}` is not an address like 127.0.0.1:9100: {e}"
                ))
            }),
            _ => Ok(None),
        }
    }

    /// What the mounted controllers need from the environment, checked
    /// before serving so a misconfiguration fails at start-up, not on the
    /// first request: `DATABASE_URL` for a pg stream.
    fn check_environment(&self) -> Result<()> {
        if self.message_max_bytes.is_none() {
            crate::sse::message_max_from_env()?;
        }
        #[cfg(feature = "postgres")]
        if let Some(controller) = self.controllers.iter().find(|c| c.uses_postgres) {
            crate::pg::check_database_url().map_err(|error| {
                Error::internal(format!(
                    "controller `{}` streams from PostgreSQL (`#[sse(pg = …)]`), but {}",
                    controller.name,
                    error.message()
                ))
            })?;
        }
        Ok(())
    }
}

async fn not_found(uri: Uri) -> impl IntoResponse {
    Error::not_found(format!("no controller answers `{}`", uri.path()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Logs to stderr (stdout carries the `listening on` line), filtered by
/// `RUST_LOG` (default `info`). Does nothing when the app set up its own
/// subscriber.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
