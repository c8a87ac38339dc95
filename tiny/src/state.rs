//! Managed state: values an app hands every controller method that asks
//! for them ([`App::manage`](crate::App::manage), [`State`]), and the
//! extraction of method arguments (axum extractors) the macro's generated
//! code calls.
//!
//! Controllers are built once, before any request, so they cannot hold a
//! database pool or a configuration the app builds at start; `State<T>` is
//! how a method reaches them, as Rocket's `&State<T>` and axum's `State`. An
//! app that mounts a controller asking for a `State<T>` it does not manage
//! refuses to start, naming `T` and the controller.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::{Error, Request};

/// The values an app manages, by type.
#[derive(Clone, Default)]
pub(crate) struct States {
    values: HashMap<TypeId, (Arc<dyn Any + Send + Sync>, &'static str)>,
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.values.values().map(|(_, name)| name))
            .finish()
    }
}

impl States {
    /// Manages `value`; a second value of the same type replaces the first.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values
            .insert(TypeId::of::<T>(), (Arc::new(value), type_name::<T>()));
    }

    pub(crate) fn contains(&self, type_id: TypeId) -> bool {
        self.values.contains_key(&type_id)
    }

    fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let (value, _) = self.values.get(&TypeId::of::<T>())?;
        Arc::clone(value).downcast::<T>().ok()
    }
}

/// A value the app manages ([`App::manage`](crate::App::manage)), as a
/// controller method argument: a cheap handle that derefs to `T`.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tiny::prelude::*;
/// use tiny::State;
///
/// #[derive(Default)]
/// pub struct Visits(AtomicU64);
///
/// #[controller]
/// pub struct Counter;
///
/// #[controller]
/// impl Counter {
///     fn get(&self, visits: State<Visits>) -> String {
///         (visits.0.fetch_add(1, Ordering::Relaxed) + 1).to_string()
///     }
/// }
///
/// let app = tiny::App::empty().manage(Visits::default()).mount::<Counter>();
/// ```
pub struct State<T: ?Sized>(Arc<T>);

impl<T: ?Sized> State<T> {
    /// The shared value, to keep beyond the request (in a task, say).
    pub fn arc(&self) -> Arc<T> {
        Arc::clone(&self.0)
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

impl<T, S> FromRequestParts<S> for State<T>
where
    T: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<Arc<States>>()
            .and_then(|states| states.get::<T>())
            .map(State)
            .ok_or_else(|| {
                // Checked when the app starts; reached only by a router
                // served outside `App` without its states.
                Error::internal(format!(
                    "`State<{}>` is not managed by this app: call App::manage(…) with one",
                    type_name::<T>()
                ))
            })
    }
}

/// The request's head for extractors: method, URI, headers and extensions
/// (the app's states among them).
pub fn request_parts(req: &Request) -> Parts {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.method = req.method().clone();
    parts.uri = req.uri().clone();
    parts.headers = req.headers().clone();
    parts.extensions = req.extensions().clone();
    parts
}

/// What a verb method may take before its last argument: anything axum
/// extracts from a request's head.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a verb method",
    label = "not an extractor",
    note = "a verb method takes, after `&self`: `&Request` or `Request`, `tiny::State<T>`, \
            axum extractors (`Query<T>`, `HeaderMap`, `Extension<T>`, `TypedHeader<T>`…), \
            and one body extractor last (`Json<T>`, `Form<T>`, `String`, `Bytes`); \
            read path values from `req.path()`"
)]
pub trait Argument: FromRequestParts<()> {}

impl<T: FromRequestParts<()>> Argument for T {}

/// What a verb method may take as its last argument: anything axum
/// extracts from a whole request (a body extractor, or a head one).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the last argument of a verb method",
    label = "not an extractor",
    note = "a verb method takes, after `&self`: `&Request` or `Request`, `tiny::State<T>`, \
            axum extractors (`Query<T>`, `HeaderMap`, `Extension<T>`, `TypedHeader<T>`…), \
            and one body extractor last (`Json<T>`, `Form<T>`, `String`, `Bytes`); \
            read path values from `req.path()`"
)]
pub trait LastArgument<M>: FromRequest<(), M> {}

impl<T: FromRequest<(), M>, M> LastArgument<M> for T {}

/// One argument from the request's head; a rejection is the answer.
pub async fn from_parts<T: Argument>(parts: &mut Parts) -> Result<T, Response> {
    match T::from_request_parts(parts, &()).await {
        Ok(value) => Ok(value),
        Err(rejection) => Err(rejected(rejection.into_response()).await),
    }
}

/// The last argument, which may read the body (`Json<T>`, `Form<T>`,
/// `String`, `Bytes`): the body tiny already read, within its limits.
pub async fn from_request<T: LastArgument<M>, M>(
    parts: Parts,
    req: &Request,
) -> Result<T, Response> {
    let request =
        axum::http::Request::from_parts(parts, axum::body::Body::from(req.body().clone()));
    match T::from_request(request, &()).await {
        Ok(value) => Ok(value),
        Err(rejection) => Err(rejected(rejection.into_response()).await),
    }
}

/// An extractor's rejection as tiny answers errors: axum's status and
/// message, as JSON to a client that accepts it, and a 5xx (a missing
/// `Extension`, say) without its internal detail. Other headers are kept.
async fn rejected(response: Response) -> Response {
    let (mut head, body) = response.into_parts();
    // A rejection's body is a short message already in memory.
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let mut answer = Error::new(head.status, text).into_response();
    head.headers.remove(axum::http::header::CONTENT_TYPE);
    head.headers.remove(axum::http::header::CONTENT_LENGTH);
    for (name, value) in head.headers.drain().filter_map(|(n, v)| Some((n?, v))) {
        answer.headers_mut().entry(name).or_insert(value);
    }
    answer
}
