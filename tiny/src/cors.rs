//! Origins: which pages may call this app from a browser.
//!
//! A browser sends `Origin` on every cross-origin request (and on same-origin
//! ones that change state). A page from another origin could otherwise open
//! a victim's stream with the victim's cookies and drain their key queue, or
//! queue messages in their name: the browser hides the answer from that page
//! only after the server has done the work. So a request whose `Origin` is
//! neither this server's own nor listed is refused with 403 before any
//! guard, queue, listener or topic is touched.
//!
//! Listed origins (`TINY_CORS_ORIGINS`, [`App::cors`](crate::App::cors))
//! get the exact `Access-Control-Allow-Origin` with credentials, `Vary:
//! Origin`, and answered preflights. Requests without `Origin` (curl, server
//! to server, same-origin navigation) are not affected.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{Error, Result};

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The cross-origin policy of an app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cors {
    /// Exact origins (`https://app.example.com`), compared case-insensitively.
    allowed: Vec<String>,
}

/// What to do with a request, by its `Origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No `Origin`, or this server's own: serve as usual.
    SameOrigin,
    /// A listed origin: serve, and mark the response for it.
    Allowed(HeaderValue),
}

impl Cors {
    /// From comma-separated exact origins; each must be `scheme://host[:port]`.
    pub(crate) fn parse(list: &str, setting: &str) -> Result<Self> {
        let mut allowed = Vec::new();
        for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let valid = origin == "null"
                || origin.split_once("://").is_some_and(|(scheme, host)| {
                    !scheme.is_empty() && !host.is_empty() && !host.contains('/')
                });
            if !valid || HeaderValue::from_str(origin).is_err() {
                return Err(Error::internal(format!(
                    "{setting}: `{origin}` is not an origin like https://app.example.com \
                     (scheme, host and optional port; no path, no trailing slash)"
                )));
            }
            allowed.push(origin.to_ascii_lowercase());
        }
        Ok(Self { allowed })
    }

    /// `TINY_CORS_ORIGINS`, or no cross origin at all.
    pub(crate) fn from_env() -> Result<Self> {
        match std::env::var("TINY_CORS_ORIGINS") {
            Ok(list) => Self::parse(&list, "TINY_CORS_ORIGINS"),
            Err(_) => Ok(Self::default()),
        }
    }

    /// Judges a request by its `Origin` and `Host`; `Err` is the 403.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<Verdict> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(Verdict::SameOrigin);
        };
        let text = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if self.allowed.contains(&text) {
            return Ok(Verdict::Allowed(origin.clone()));
        }
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .map(str::to_ascii_lowercase);
        // The scheme is not compared: behind a TLS-terminating proxy the
        // page is https while this server sees plain http.
        let own = match (text.split_once("://"), host) {
            (Some((_, origin_host)), Some(host)) => origin_host == host,
            _ => false,
        };
        if own {
            return Ok(Verdict::SameOrigin);
        }
        Err(Error::forbidden(format!(
            "cross-origin requests from `{}` are not allowed; list the origin in \
             TINY_CORS_ORIGINS (or App::cors) to allow it",
            origin.to_str().unwrap_or("?")
        )))
    }
}

/// Marks a response for an allowed origin.
pub(crate) fn allow(response: &mut Response, origin: HeaderValue) {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

/// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight from an allowed origin: the methods the
/// controller answers, and the headers a page may send.
pub(crate) fn preflight(
    origin: HeaderValue,
    methods: HeaderValue,
    headers: &HeaderMap,
) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    allow(&mut response, origin);
    let out = response.headers_mut();
    out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    // Whatever the page asked to send (`Last-Event-ID`, `Content-Type`, …):
    // the origin is trusted.
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn own_origin_and_no_origin_pass_others_are_403() {
        let cors = Cors::default();
        assert_eq!(
            cors.check(&headers(None, "a:1")).unwrap(),
            Verdict::SameOrigin
        );
        let own = headers(Some("http://a:1"), "a:1");
        assert_eq!(cors.check(&own).unwrap(), Verdict::SameOrigin);
        let proxied = headers(Some("https://A:1"), "a:1");
        assert_eq!(cors.check(&proxied).unwrap(), Verdict::SameOrigin);
        for other in ["http://evil:1", "http://a:2", "null", "http://a:1.evil"] {
            let error = cors.check(&headers(Some(other), "a:1")).unwrap_err();
            assert_eq!(error.status(), StatusCode::FORBIDDEN, "{other}");
            assert!(error.message().contains("TINY_CORS_ORIGINS"));
        }
    }

    #[test]
    fn listed_origins_are_allowed_exactly() {
        let cors = Cors::parse("https://app.example.com, http://localhost:3000", "X").unwrap();
        let verdict = cors.check(&headers(Some("https://app.example.com"), "api:80"));
        assert!(matches!(verdict, Ok(Verdict::Allowed(_))));
        assert!(
            cors.check(&headers(Some("https://app.example.com.evil"), "api:80"))
                .is_err()
        );
        assert!(
            cors.check(&headers(Some("http://app.example.com"), "api:80"))
                .is_err()
        );
    }

    #[test]
    fn malformed_lists_name_the_setting() {
        for bad in ["app.example.com", "https://a/path", "https://"] {
            let error = Cors::parse(bad, "TINY_CORS_ORIGINS").unwrap_err();
            assert!(error.message().contains("TINY_CORS_ORIGINS"), "{bad}");
        }
    }
}
