//! The `Controller` trait that `#[controller]` implements, and verb dispatch.
//!
//! A controller answers its own path and every deeper path, on the verbs its
//! `impl` block defines. The dispatcher here owns everything around the call:
//! splitting the path into sections (400 on bad encoding), reading the body
//! (413 past the app's limit), `OPTIONS` (204 with `Allow`), and 405 with
//! `Allow` for a verb the controller lacks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::cors::{self, Cors, Verdict};
use crate::metrics;
use crate::request::{PathSections, Request};
use crate::sse::{RequestScope, StreamDefaults};
use crate::{Error, Result};

/// A boxed, sendable future, as controller dispatch returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The HTTP verbs a controller method can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `GET` (and `HEAD`, answered by `get` without its body).
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`; answered by default with 204 and `Allow`.
    Options,
}

impl Verb {
    /// Every verb, in the order `Allow` lists them.
    pub const ALL: [Verb; 6] = [
        Verb::Get,
        Verb::Post,
        Verb::Put,
        Verb::Patch,
        Verb::Delete,
        Verb::Options,
    ];

    /// The method name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
            Verb::Options => "OPTIONS",
        }
    }

    fn from_method(method: &Method) -> Option<Self> {
        Some(match *method {
            Method::GET | Method::HEAD => Verb::Get,
            Method::POST => Verb::Post,
            Method::PUT => Verb::Put,
            Method::PATCH => Verb::Patch,
            Method::DELETE => Verb::Delete,
            Method::OPTIONS => Verb::Options,
            _ => return None,
        })
    }
}

/// Where a controller is mounted and how it is built; implemented by
/// `#[controller]` on the struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a controller",
    label = "`{Self}` needs `#[controller]` on its struct",
    note = "put `#[controller]` on `struct {Self}` as well as on its `impl` block"
)]
pub trait Route: Send + Sync + Sized + 'static {
    /// The path the controller answers (and every deeper path).
    const PATH: &'static str;
    /// The struct's name, for logs and errors.
    const NAME: &'static str;
    /// Builds the one instance that serves every request.
    fn build() -> Self;
}

/// A controller: implemented by `#[controller]` on an `impl` block whose
/// methods are named after HTTP verbs.
///
/// ```
/// use tiny::prelude::*;
///
/// #[controller(path = "/api/status")]
/// pub struct Status;
///
/// #[controller]
/// impl Status {
///     async fn get(&self) -> &'static str { "ok" }
///     fn delete(&self) -> tiny::Result<()> { Err(tiny::Error::forbidden("status is read-only")) }
/// }
///
/// let router = tiny::App::empty().mount::<Status>().router();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no verb methods",
    label = "`{Self}` needs a `#[controller] impl` block",
    note = "add `#[controller] impl {Self} {{ fn get(&self) -> … }}` with methods named `get`, `post`, `put`, `patch`, `delete` or `options`"
)]
pub trait Controller: Route {
    /// The verbs the `impl` block defines.
    const VERBS: &'static [Verb];

    /// Whether a method streams from PostgreSQL (`#[sse(pg = …)]`), so the
    /// app checks `DATABASE_URL` before serving.
    const USES_POSTGRES: bool = false;

    /// The types its methods take as [`State<T>`](crate::State), with
    /// their names, so an app that does not manage one refuses to start.
    fn states() -> Vec<(std::any::TypeId, &'static str)> {
        Vec::new()
    }

    /// Calls the method for `verb`. Called only with a verb in [`Self::VERBS`].
    fn call(self: Arc<Self>, verb: Verb, req: Request) -> BoxFuture<'static, Response>;
}

/// Builds a controller that is not a unit struct, through `Default`.
#[diagnostic::on_unimplemented(
    message = "controller `{Self}` cannot be built",
    label = "tiny builds one `{Self}` when the app starts",
    note = "make `{Self}` a unit struct, or derive or implement `Default` for it"
)]
pub trait Buildable {
    /// The one instance.
    fn build() -> Self;
}

impl<T: Default> Buildable for T {
    fn build() -> Self {
        T::default()
    }
}

/// Builds a controller that is not a unit struct (macro glue).
pub fn build<T: Buildable>() -> T {
    T::build()
}

/// The answer to a verb the controller does not define (macro glue).
pub async fn not_allowed<T: Controller>() -> Response {
    method_not_allowed(T::VERBS)
}

/// The `Allow` header value: the defined verbs, `HEAD` with `GET`, and `OPTIONS`.
fn allow(verbs: &[Verb]) -> HeaderValue {
    let mut names: Vec<&str> = Vec::with_capacity(verbs.len() + 2);
    for verb in Verb::ALL {
        if verbs.contains(&verb) || verb == Verb::Options {
            names.push(verb.as_str());
            if verb == Verb::Get {
                names.push("HEAD");
            }
        }
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
}

/// 405 with `Allow`; the body as every error's (JSON for a JSON client).
fn method_not_allowed(verbs: &[Verb]) -> Response {
    let allowed = allow(verbs);
    let message = format!(
        "method not allowed here; allowed: {}",
        allowed.to_str().unwrap_or("OPTIONS")
    );
    let mut response = Error::new(StatusCode::METHOD_NOT_ALLOWED, message).into_response();
    response.headers_mut().insert(header::ALLOW, allowed);
    response
}

/// What every request of an app is answered with: the bounds on reading
/// its body, and the defaults of the streams it opens.
#[derive(Debug, Clone)]
pub(crate) struct Serving {
    pub(crate) streams: StreamDefaults,
    /// Larger bodies are answered 413.
    pub(crate) body_limit: usize,
    /// Slower bodies are answered 408.
    pub(crate) body_timeout: Duration,
    /// Which origins may call the app from a browser.
    pub(crate) cors: Cors,
    /// What [`State`](crate::State) arguments read.
    pub(crate) states: Arc<crate::state::States>,
}

/// Answers one request for controller `T`.
pub(crate) async fn dispatch<T: Controller>(
    controller: Arc<T>,
    serving: Arc<Serving>,
    req: axum::extract::Request,
) -> Response {
    let json = crate::error::accepts_json(req.headers());
    crate::error::render_for(json, respond(controller, serving, req)).await
}

async fn respond<T: Controller>(
    controller: Arc<T>,
    serving: Arc<Serving>,
    req: axum::extract::Request,
) -> Response {
    // Before anything else runs: a page from another origin must not reach
    // a guard, a queue or a listener.
    let verdict = match serving.cors.check(req.headers()) {
        Ok(verdict) => verdict,
        Err(refused) => {
            metrics::refused("origin");
            return refused.into_response();
        }
    };
    let mut response = answer(controller, &serving, verdict.clone(), req).await;
    if let Verdict::Allowed(origin) = verdict {
        cors::allow(&mut response, origin);
    }
    response
}

async fn answer<T: Controller>(
    controller: Arc<T>,
    serving: &Serving,
    verdict: Verdict,
    req: axum::extract::Request,
) -> Response {
    if let Verdict::Allowed(origin) = verdict
        && cors::is_preflight(req.method(), req.headers())
    {
        return cors::preflight(origin, allow(T::VERBS), req.headers());
    }
    let verb = Verb::from_method(req.method()).filter(|verb| T::VERBS.contains(verb));
    let Some(verb) = verb else {
        if req.method() == Method::OPTIONS {
            return (StatusCode::NO_CONTENT, [(header::ALLOW, allow(T::VERBS))]).into_response();
        }
        return method_not_allowed(T::VERBS);
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let request = match into_request(req, T::PATH, serving).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let scope = RequestScope {
        last_event_id: request.last_event_id().map(Arc::from),
        peer,
        controller: T::NAME,
    };
    let streams = serving.streams.clone();
    StreamDefaults::scope(streams, scope, controller.call(verb, request)).await
}

async fn into_request(
    req: axum::extract::Request,
    mount: &str,
    serving: &Serving,
) -> Result<Request> {
    let (mut parts, body) = req.into_parts();
    // The path as routed (relative to where the app is nested) gives the
    // sections; `Request::uri` keeps the URI as the client sent it.
    let path = PathSections::parse(mount, parts.uri.path())?;
    if let Some(OriginalUri(original)) = parts.extensions.remove::<OriginalUri>() {
        parts.uri = original;
    }
    let body = collect(body, serving.body_limit, serving.body_timeout).await?;
    parts.extensions.insert(Arc::clone(&serving.states));
    Ok(
        Request::new(parts.method, parts.uri, parts.headers, path, body)
            .with_extensions(parts.extensions),
    )
}

/// Reads the whole body, at most `limit` bytes within `timeout`: a body
/// trickled byte by byte would otherwise hold its task for as long as the
/// client likes.
async fn collect(body: Body, limit: usize, timeout: Duration) -> Result<bytes::Bytes> {
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
    let Ok(read) = read else {
        return Err(Error::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {timeout:?} (TINY_BODY_TIMEOUT)"),
        ));
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )),
        Err(error) => Err(Error::bad_request(format!(
            "request body could not be read: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_head_with_get_and_always_options() {
        assert_eq!(allow(&[Verb::Post, Verb::Get]), "GET, HEAD, POST, OPTIONS");
        assert_eq!(allow(&[Verb::Delete]), "DELETE, OPTIONS");
        assert_eq!(allow(&[Verb::Options]), "OPTIONS");
    }
}
