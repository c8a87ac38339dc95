//! syn input → the typed model, with every problem recorded at its token.
//!
//! `controller` reads `#[controller]` on a struct and on its impl block,
//! `verb` each verb method's signature, `sse` a method's `#[sse(...)]`, and
//! `duration` the durations those arguments take. Each named argument is
//! read into an `attr::Attr`, which reports a repeated one.

mod attr;
mod controller;
mod duration;
mod sse;
mod verb;

use syn::{Expr, ExprLit, Lit, LitStr};

pub(crate) use controller::{controller_impl, controller_struct};
pub(crate) use sse::sse_outside_controller;

/// `pol`, or `a::b` for a path, as the user wrote it.
fn path_name(path: &syn::Path) -> String {
    let segments = path.segments.iter().map(|s| s.ident.to_string());
    let name = segments.collect::<Vec<_>>().join("::");
    if path.leading_colon.is_some() {
        format!("::{name}")
    } else {
        name
    }
}

fn string_literal(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

/// The messages `#[controller]` reports for an impl block.
#[cfg(test)]
fn impl_errors(mut item: syn::ItemImpl) -> Vec<String> {
    let diag = crate::diag::Diagnostics::default();
    controller_impl(proc_macro2::TokenStream::new(), &mut item, &diag);
    diag.messages()
}
