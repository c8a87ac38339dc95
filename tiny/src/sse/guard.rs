//! What runs before a guarded stream (key, pg) opens: the template is filled
//! from the path (400 when a value does not fit), then the method body runs
//! as a guard (`Err` refuses the stream with its own response).

use axum::response::{IntoResponse, Response};

use super::template::Template;
use crate::request::Request;

/// Fills a key or channel template from the request; the `Err` is the 400
/// response, returned at once by generated code.
// Boxing the `Err` would only add an allocation: it is the answer itself.
#[allow(clippy::result_large_err)]
pub fn render(template: &Template, req: &Request) -> Result<String, Response> {
    template
        .render(req.path())
        .map_err(IntoResponse::into_response)
}

/// The body of a key or pg stream method: `()` opens the stream, `Err(e)`
/// answers with `e`.
#[diagnostic::on_unimplemented(
    message = "a stream guard must return `()` or `tiny::Result<()>`, not `{Self}`",
    label = "the method body of a `key` or `pg` stream runs before the stream opens",
    note = "return `Ok(())` to open the stream, or `Err(tiny::Error::forbidden(\"…\"))` to refuse it"
)]
pub trait Guard {
    /// `Ok` opens the stream; `Err` is the response instead.
    #[allow(clippy::result_large_err)]
    fn check(self) -> Result<(), Response>;
}

impl Guard for () {
    fn check(self) -> Result<(), Response> {
        Ok(())
    }
}

impl<E: IntoResponse> Guard for Result<(), E> {
    fn check(self) -> Result<(), Response> {
        self.map_err(IntoResponse::into_response)
    }
}
