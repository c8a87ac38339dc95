//! The attribute macros of [tiny](https://docs.rs/tiny): `#[controller]` and `#[sse]`.
//!
//! Use them through `tiny` (`use tiny::prelude::*;`), never directly: the
//! generated code names `::tiny::…` paths only.

mod diag;
mod expand;
mod model;
mod parse;
mod template;

use proc_macro::TokenStream;
use quote::quote;
use syn::Item;

use crate::diag::Diagnostics;

// On a struct: the controller's route. On its `impl` block: the verb methods.
// Documented where users read it, on the re-export `tiny::controller`
// (rustdoc would append doc comments written here to that page).
#[proc_macro_attribute]
pub fn controller(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let tokens = proc_macro2::TokenStream::from(item);
    let output = match syn::parse2::<Item>(tokens.clone()) {
        Ok(Item::Struct(item)) => {
            let diag = Diagnostics::default();
            let model = parse::controller_struct(args, &item, &diag);
            let ok = diag.is_empty();
            // With errors, still implement `Route` (unregistered) when that
            // compiles, so the impl block does not add a second message.
            let route = (ok || item.generics.params.is_empty())
                .then(|| expand::controller_struct(&model, ok));
            let errors = diag.to_compile_errors();
            quote!(#item #route #errors)
        }
        Ok(Item::Impl(mut item)) => {
            let diag = Diagnostics::default();
            let model = parse::controller_impl(args, &mut item, &diag);
            let controller = if diag.is_empty() {
                expand::controller_impl(&model)
            } else if item.trait_.is_none() && item.generics.params.is_empty() {
                expand::fallback_impl(&model.self_ty)
            } else {
                quote!()
            };
            let errors = diag.to_compile_errors();
            quote!(#item #controller #errors)
        }
        Ok(other) => {
            let span = match &other {
                Item::Fn(f) => f.sig.ident.span(),
                Item::Enum(e) => e.ident.span(),
                Item::Trait(t) => t.ident.span(),
                Item::Mod(m) => m.ident.span(),
                _ => proc_macro2::Span::call_site(),
            };
            let error = syn::Error::new(
                span,
                "`#[controller]` goes on a struct and on that struct's `impl` block",
            )
            .to_compile_error();
            quote!(#other #error)
        }
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#tokens #error)
        }
    };
    output.into()
}

// Makes a verb method of a `#[controller] impl` block an event stream.
//
// See `tiny::sse` for the documentation. This expansion runs only when the
// attribute is *not* inside a `#[controller]` impl (which consumes it), so
// it is always an error.
#[proc_macro_attribute]
pub fn sse(_args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let message = parse::sse_outside_controller(item.clone());
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    quote!(#item #error).into()
}
