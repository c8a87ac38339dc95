//! The request a controller method receives, and tiny's path model.
//!
//! tiny reads a path as `/controller/section/slug…`. A controller mounted at
//! `/user-updates` that receives `/user-updates/42/a/b` sees
//! `controller = "user-updates"`, `section = "42"`, `slug = "a/b"`. Segments
//! are percent-decoded; a path that does not decode to UTF-8 is refused with
//! 400 before any controller runs.
//!
//! The body is read (up to the app's limit, 413 past it) before the method is
//! called, so a `Request` is cheap to clone and its helpers are synchronous.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, Uri, header};
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The sections of a request path, relative to the controller that answers it.
///
/// ```
/// use tiny::PathSections;
///
/// let path = PathSections::parse("/user-updates", "/user-updates/42/a%20b/c").unwrap();
/// assert_eq!(path.controller, "user-updates");
/// assert_eq!(path.section, "42");
/// assert_eq!(path.slug, "a b/c");
/// assert_eq!(path.full, "/user-updates/42/a b/c");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathSections {
    /// The controller's mount path without its leading `/` (`""` for `Home`).
    pub controller: String,
    /// The first segment after the controller's path; empty when absent.
    pub section: String,
    /// Every segment after the section, joined with `/`; empty when absent.
    pub slug: String,
    /// The whole decoded path.
    pub full: String,
}

impl PathSections {
    /// Splits `path` (as sent, percent-encoded) for a controller mounted at
    /// `mount`. Fails with 400 when a segment does not decode to UTF-8, the
    /// path is not under `mount`, or it holds a dot segment (`.`, `..`,
    /// also percent-encoded) or an empty segment (`//`) before its end: a
    /// browser never sends those, and reading them differently from a
    /// browser could stream a key the page never asked for.
    ///
    /// ```
    /// use tiny::PathSections;
    ///
    /// assert!(PathSections::parse("/user-updates", "/user-updates/a/../b").is_err());
    /// assert!(PathSections::parse("/user-updates", "/user-updates//b").is_err());
    /// assert!(PathSections::parse("/user-updates", "/user-updates/b/").is_ok());
    /// ```
    pub fn parse(mount: &str, path: &str) -> Result<Self> {
        check_segments(path)?;
        let full = decode(path)?;
        let mount = mount.trim_end_matches('/');
        let rest = path
            .strip_prefix(mount)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .ok_or_else(|| Error::bad_request(format!("path `{full}` is not under `{mount}`")))?;
        let mut segments = rest.trim_start_matches('/').splitn(2, '/');
        let section = decode(segments.next().unwrap_or(""))?;
        let slug = match segments.next() {
            Some(slug) => slug
                .split('/')
                .map(decode)
                .collect::<Result<Vec<_>>>()?
                .join("/"),
            None => String::new(),
        };
        Ok(Self {
            controller: mount.trim_start_matches('/').to_owned(),
            section,
            slug,
            full,
        })
    }
}

/// Refuses dot segments and empty segments other than a trailing one.
fn check_segments(path: &str) -> Result<()> {
    let inner = path.strip_prefix('/').unwrap_or(path);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.is_empty() {
        return Ok(());
    }
    for segment in inner.split('/') {
        if segment.is_empty() {
            return Err(Error::bad_request(format!(
                "path `{path}` has an empty segment (`//`)"
            )));
        }
        let decoded = percent_decode_str(segment).collect::<Vec<u8>>();
        if decoded == b"." || decoded == b".." {
            return Err(Error::bad_request(format!(
                "path `{path}` has a dot segment (`{segment}`); send the path a browser would"
            )));
        }
    }
    Ok(())
}

fn decode(raw: &str) -> Result<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Error::bad_request(format!("`{raw}` is not valid UTF-8 once percent-decoded")))
}

struct Inner {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: PathSections,
    body: Bytes,
    /// What the server and layers attached (the client's address, the
    /// app's states…), for extractors.
    extensions: axum::http::Extensions,
}

/// An HTTP request as a controller method sees it. Cloning is cheap.
///
/// ```
/// use tiny::prelude::*;
///
/// #[controller]
/// pub struct Orders;
///
/// #[controller]
/// impl Orders {
///     fn get(&self, req: &Request) -> String {
///         format!("order {}", req.path().section)
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Request {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.inner.method)
            .field("uri", &self.inner.uri)
            .field("path", &self.inner.path)
            .field("body_len", &self.inner.body.len())
            .finish()
    }
}

impl Request {
    /// Builds a request by hand, e.g. to call a controller method in a unit test.
    pub fn new(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        path: PathSections,
        body: Bytes,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                method,
                uri,
                headers,
                path,
                body,
                extensions: axum::http::Extensions::new(),
            }),
        }
    }

    /// A copy of this request that shares no memory with the connection it
    /// came on. hyper parses header values, the URI and the body as slices
    /// of the connection's 8 KiB read buffer; a stream that keeps its
    /// request for hours would keep that buffer alive, and hyper allocates
    /// another for its next read (3.4 KB of RSS per idle stream, measured:
    /// BENCHMARKS.md, "Memory per idle stream"). Standard header names are
    /// static; values, custom names, the URI and the body are copied.
    pub(crate) fn detached(&self) -> Self {
        use axum::http::{HeaderName, HeaderValue};
        let inner = &self.inner;
        let mut headers = HeaderMap::with_capacity(inner.headers.len());
        for (name, value) in &inner.headers {
            let name =
                HeaderName::from_bytes(name.as_str().as_bytes()).unwrap_or_else(|_| name.clone());
            let mut copy =
                HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
            copy.set_sensitive(value.is_sensitive());
            headers.append(name, copy);
        }
        let uri = Uri::try_from(inner.uri.to_string()).unwrap_or_else(|_| inner.uri.clone());
        Self {
            inner: Arc::new(Inner {
                method: inner.method.clone(),
                uri,
                headers,
                path: inner.path.clone(),
                body: Bytes::copy_from_slice(&inner.body),
                extensions: inner.extensions.clone(),
            }),
        }
    }

    /// This request with `extensions` (what the server attached).
    pub(crate) fn with_extensions(self, extensions: axum::http::Extensions) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.extensions = extensions;
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(shared) => Self { inner: shared },
        }
    }

    /// What the server and its layers attached to the request (axum's
    /// `Extension`s, the client's `ConnectInfo`).
    pub fn extensions(&self) -> &axum::http::Extensions {
        &self.inner.extensions
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The URI as sent.
    pub fn uri(&self) -> &Uri {
        &self.inner.uri
    }

    /// The path split into controller, section and slug.
    pub fn path(&self) -> &PathSections {
        &self.inner.path
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// One header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers.get(name)?.to_str().ok()
    }

    /// The query string deserialized into `T`; 400 with serde's message when it
    /// does not fit.
    ///
    /// ```
    /// # use tiny::{Request, PathSections, http::{Method, HeaderMap}};
    /// #[derive(serde::Deserialize)]
    /// struct Page { n: u32 }
    ///
    /// let req = Request::new(Method::GET, "/list?n=3".parse().unwrap(),
    ///     HeaderMap::new(), PathSections::default(), Default::default());
    /// assert_eq!(req.query::<Page>().unwrap().n, 3);
    /// ```
    pub fn query<T: DeserializeOwned>(&self) -> Result<T> {
        let query = self.inner.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map_err(|e| Error::bad_request(format!("invalid query string: {e}")))
    }

    /// One query parameter, percent-decoded; `None` when absent.
    pub fn query_value(&self, name: &str) -> Option<String> {
        let query = self.inner.uri.query()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find_map(|(key, value)| (key == name).then_some(value))
    }

    /// The value of cookie `name` from the `Cookie` header(s), percent-decoded
    /// when it is; `None` when absent.
    ///
    /// ```
    /// # use tiny::{Request, PathSections, http::{HeaderMap, Method}};
    /// let mut headers = HeaderMap::new();
    /// headers.insert("cookie", "theme=dark; session=a%20b".parse().unwrap());
    /// let req = Request::new(Method::GET, "/".parse().unwrap(), headers,
    ///     PathSections::default(), Default::default());
    /// assert_eq!(req.cookie("session").as_deref(), Some("a b"));
    /// assert_eq!(req.cookie("missing"), None);
    /// ```
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.inner
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| {
                let value = value.trim_matches('"');
                percent_decode_str(value)
                    .decode_utf8()
                    .map_or_else(|_| value.to_owned(), |decoded| decoded.into_owned())
            })
    }

    /// The path's section parsed as `T` (an id, a number, a date); 400 with
    /// a message naming the section when it does not parse.
    ///
    /// ```
    /// # use tiny::{Request, PathSections, http::{HeaderMap, Method}};
    /// let path = PathSections::parse("/orders", "/orders/42").unwrap();
    /// let req = Request::new(Method::GET, "/orders/42".parse().unwrap(), HeaderMap::new(),
    ///     path, Default::default());
    /// assert_eq!(req.section_as::<u64>().unwrap(), 42);
    /// assert_eq!(req.section_as::<bool>().unwrap_err().status(), 400);
    /// ```
    pub fn section_as<T>(&self) -> Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let section = &self.inner.path.section;
        section.parse().map_err(|error| {
            Error::bad_request(format!(
                "the section `{section}` is not a valid {}: {error}",
                std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("value")
            ))
        })
    }

    /// Where a returning `EventSource` left off: the `Last-Event-ID` header
    /// a browser sends by itself when it reconnects, else the `lastEventId`
    /// query parameter (an `EventSource` cannot set headers, so a page that
    /// kept an id opens with `?lastEventId=…`). `None` when neither is
    /// present; a header that is not visible ASCII counts as absent.
    ///
    /// Streams of modes with a history (key, pg) read it themselves to
    /// replay what the client missed.
    ///
    /// ```
    /// # use tiny::{Request, PathSections, http::{HeaderMap, Method}};
    /// let mut headers = HeaderMap::new();
    /// headers.insert("last-event-id", "e1.7".parse().unwrap());
    /// let req = Request::new(Method::GET, "/feed?lastEventId=e1.3".parse().unwrap(),
    ///     headers, PathSections::default(), Default::default());
    /// assert_eq!(req.last_event_id().as_deref(), Some("e1.7"));
    /// ```
    pub fn last_event_id(&self) -> Option<String> {
        match self.header("last-event-id") {
            Some(id) => Some(id.to_owned()),
            None => self.query_value("lastEventId"),
        }
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.inner.body
    }

    /// The body as UTF-8 text, whatever its content type; 400 when it is not UTF-8.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.inner.body)
            .map_err(|e| Error::bad_request(format!("request body is not valid UTF-8: {e}")))
    }

    /// The body parsed as JSON into `T`. 415 unless `Content-Type` is
    /// `application/json` (or `…+json`); 400 with serde's message when the
    /// JSON does not fit `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let content_type = self.header(header::CONTENT_TYPE.as_str()).unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(Error::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "expected `Content-Type: application/json`, got `{}`",
                    if content_type.is_empty() {
                        "nothing"
                    } else {
                        content_type
                    }
                ),
            ));
        }
        serde_json::from_slice(&self.inner.body)
            .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn request(content_type: Option<&str>, body: &'static str) -> Request {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        }
        Request::new(
            Method::POST,
            Uri::from_static("/x"),
            headers,
            PathSections::default(),
            Bytes::from_static(body.as_bytes()),
        )
    }

    #[test]
    fn a_detached_request_reads_the_same() {
        let mut headers = HeaderMap::new();
        headers.insert("x-custom", "one".parse().unwrap());
        headers.append(header::ACCEPT, "text/event-stream".parse().unwrap());
        let req = Request::new(
            Method::POST,
            "/orders/7?n=3".parse().unwrap(),
            headers,
            PathSections::parse("/orders", "/orders/7").unwrap(),
            Bytes::from_static(b"body"),
        );
        let copy = req.detached();
        assert_eq!(copy.uri(), req.uri());
        assert_eq!(copy.headers(), req.headers());
        assert_eq!(copy.path(), req.path());
        assert_eq!(copy.method(), req.method());
        assert_eq!(copy.inner.body, req.inner.body);
    }

    #[test]
    fn sections_of_a_bare_controller_path_are_empty() {
        let path = PathSections::parse("/heartbeat", "/heartbeat").unwrap();
        assert_eq!(path.controller, "heartbeat");
        assert_eq!(path.section, "");
        assert_eq!(path.slug, "");
        let path = PathSections::parse("/heartbeat", "/heartbeat/").unwrap();
        assert_eq!(path.section, "");
    }

    #[test]
    fn home_takes_its_section_from_the_first_segment() {
        let path = PathSections::parse("/", "/about/team").unwrap();
        assert_eq!(path.controller, "");
        assert_eq!(path.section, "about");
        assert_eq!(path.slug, "team");
    }

    #[test]
    fn a_path_outside_the_mount_is_refused() {
        assert!(PathSections::parse("/user", "/user-updates").is_err());
    }

    #[test]
    fn dot_and_empty_segments_are_400_anywhere() {
        for bad in [
            "/c/a/../b",
            "/c/..",
            "/c/./b",
            "/c/%2e%2E/b",
            "/c/%2e",
            "/c//b",
            "/c/a//",
            "//c/a",
        ] {
            let error = PathSections::parse("/c", bad).unwrap_err();
            assert_eq!(error.status(), 400, "{bad}");
        }
        for good in ["/c", "/c/", "/c/a/", "/c/a.b/..c/...", "/c/%2e%2ex"] {
            assert!(PathSections::parse("/c", good).is_ok(), "{good}");
        }
        assert!(PathSections::parse("/", "/").is_ok());
    }

    #[test]
    fn non_utf8_segments_are_400() {
        let error = PathSections::parse("/a", "/a/%FF").unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.message().contains("%FF"));
    }

    #[test]
    fn json_requires_a_json_content_type() {
        #[derive(Debug, serde::Deserialize)]
        struct Order {
            _id: u32,
        }
        let error = request(Some("text/plain"), "{}")
            .json::<Order>()
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let error = request(Some("application/json"), "{")
            .json::<Order>()
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(
            request(
                Some("application/merge-patch+json; charset=utf-8"),
                r#"{"_id":1}"#
            )
            .json::<Order>()
            .is_ok()
        );
    }

    #[test]
    fn text_refuses_invalid_utf8() {
        let req = Request::new(
            Method::POST,
            Uri::from_static("/x"),
            HeaderMap::new(),
            PathSections::default(),
            Bytes::from_static(&[0xff, 0xfe]),
        );
        assert_eq!(req.text().unwrap_err().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn query_value_decodes() {
        let req = Request::new(
            Method::GET,
            Uri::from_static("/x?a=1&name=J%C3%BCrgen+X"),
            HeaderMap::new(),
            PathSections::default(),
            Bytes::new(),
        );
        assert_eq!(req.query_value("name").as_deref(), Some("Jürgen X"));
        assert_eq!(req.query_value("b"), None);
    }
}
