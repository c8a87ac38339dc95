//! The model → tokens. Cannot fail: every check happened while parsing.
//!
//! Generated code names only `::tiny::…` paths and calls runtime functions in
//! `tiny::__private`, so each behaviour lives once, in the runtime.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens as _, format_ident, quote, quote_spanned};

use syn::spanned::Spanned as _;

use crate::model::{
    Arg, Build, ControllerImpl, ControllerStruct, KeepAlive, Part, RequestArg, Stream, StreamMode,
    VerbMethod,
};

pub(crate) fn controller_struct(model: &ControllerStruct, register: bool) -> TokenStream {
    let ident = &model.ident;
    let path = &model.path;
    let name = ident.to_string();
    let build = match model.build {
        Build::Unit => quote!(#ident),
        Build::Default => quote_spanned!(ident.span()=> ::tiny::__private::build::<Self>()),
    };
    let registration = register.then(|| {
        let of = quote_spanned!(ident.span()=> ::tiny::__private::Registration::of::<#ident>());
        quote! {
            ::tiny::__private::inventory::submit! { #of }
        }
    });
    quote! {
        impl ::tiny::__private::Route for #ident {
            const PATH: &'static str = #path;
            const NAME: &'static str = #name;
            fn build() -> Self {
                #build
            }
        }
        #registration
    }
}

pub(crate) fn controller_impl(model: &ControllerImpl) -> TokenStream {
    let self_ty = &model.self_ty;
    let verbs = model.methods.iter().map(|m| verb_path(m.verb.variant()));
    let uses_postgres = model.methods.iter().any(|m| {
        m.stream
            .as_ref()
            .is_some_and(|s| matches!(s.mode, StreamMode::Pg { .. }))
    });
    let arms = model.methods.iter().map(|method| {
        let verb = verb_path(method.verb.variant());
        let body = match &method.stream {
            None => plain(method),
            Some(stream) => match &stream.mode {
                StreamMode::Poll { every_ms } => poll(method, *every_ms, stream),
                StreamMode::Key { template, every_ms } => {
                    keyed(method, template, *every_ms, stream)
                }
                StreamMode::Pg { template, pg_key } => pg(method, template, *pg_key, stream),
                StreamMode::Topic { template } => topic(method, template, stream),
            },
        };
        quote! {
            #verb => ::tiny::__private::Box::pin(async move {
                let this = self;
                #body
            }),
        }
    });
    let states = model
        .methods
        .iter()
        .flat_map(|m| &m.args)
        .filter_map(|arg| match arg {
            Arg::Extract {
                state: Some(ty), ..
            } => Some(quote_spanned! {ty.span()=>
                (::core::any::TypeId::of::<#ty>(), ::core::any::type_name::<#ty>())
            }),
            _ => None,
        });
    quote! {
        impl ::tiny::Controller for #self_ty {
            const VERBS: &'static [::tiny::Verb] = &[#(#verbs),*];
            const USES_POSTGRES: bool = #uses_postgres;

            fn states() -> ::std::vec::Vec<(::core::any::TypeId, &'static str)> {
                ::std::vec![#(#states),*]
            }

            #[allow(unused_variables, clippy::let_and_return)]
            fn call(
                self: ::tiny::__private::Arc<Self>,
                verb: ::tiny::Verb,
                req: ::tiny::Request,
            ) -> ::tiny::BoxFuture<'static, ::tiny::__private::Response> {
                #[allow(unreachable_patterns)]
                match verb {
                    #(#arms)*
                    _ => ::tiny::__private::Box::pin(::tiny::__private::not_allowed::<Self>()),
                }
            }
        }
    }
}

/// A controller impl whose input had errors: verbs unknown, so it answers
/// 405 to everything. It keeps the struct's registration compiling, so one
/// mistake gives one message.
pub(crate) fn fallback_impl(self_ty: &syn::Type) -> TokenStream {
    quote! {
        impl ::tiny::Controller for #self_ty {
            const VERBS: &'static [::tiny::Verb] = &[];
            fn call(
                self: ::tiny::__private::Arc<Self>,
                _verb: ::tiny::Verb,
                _req: ::tiny::Request,
            ) -> ::tiny::BoxFuture<'static, ::tiny::__private::Response> {
                ::tiny::__private::Box::pin(::tiny::__private::not_allowed::<Self>())
            }
        }
    }
}

fn verb_path(variant: &str) -> TokenStream {
    let variant = format_ident!("{}", variant);
    quote!(::tiny::Verb::#variant)
}

/// Where code that handles the method's return value is placed: resolved at
/// the call site (hygiene), reported at the method's return type, so an
/// unsatisfied bound points at the type the user wrote.
fn at_output(method: &VerbMethod) -> Span {
    Span::call_site().located_at(method.output_span)
}

/// `this.get(&req, __arg1, …)` with `.await` when the method is async,
/// spanned at the return type: a trait the returned value lacks is
/// reported there.
fn call(method: &VerbMethod) -> TokenStream {
    let ident = &method.ident;
    let span = at_output(method);
    let args = method.args.iter().enumerate().map(|(at, arg)| match arg {
        Arg::Request(RequestArg::Borrowed) => quote_spanned!(span=> &req),
        Arg::Request(RequestArg::Owned) => quote_spanned!(span=> req),
        Arg::Extract { .. } => argument(at).into_token_stream(),
    });
    let await_ = method.is_async.then(|| quote_spanned!(span=> .await));
    quote_spanned!(span=> this.#ident(#(#args),*) #await_)
}

fn argument(at: usize) -> syn::Ident {
    format_ident!("__tiny_arg{}", at)
}

/// Runs the extractors of the method's arguments, in order; a rejection is
/// the answer. Each bound is spanned at the argument's type, so a type that
/// is no extractor is reported where it is written.
fn extract(method: &VerbMethod) -> TokenStream {
    let extracts: Vec<_> = method
        .args
        .iter()
        .enumerate()
        .filter_map(|(at, arg)| match arg {
            Arg::Extract { ty, last, .. } => Some((argument(at), ty, *last)),
            Arg::Request(_) => None,
        })
        .collect();
    if extracts.is_empty() {
        return quote!();
    }
    let steps = extracts.iter().map(|(name, ty, last)| {
        let from = if *last {
            quote_spanned!(ty.span()=> ::tiny::__private::from_request::<#ty, _>(__tiny_parts, &req))
        } else {
            quote_spanned!(ty.span()=> ::tiny::__private::from_parts::<#ty>(&mut __tiny_parts))
        };
        quote_spanned! {ty.span()=>
            let #name: #ty = match #from.await {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(refused) => return refused,
            };
        }
    });
    quote! {
        #[allow(unused_mut)]
        let mut __tiny_parts = ::tiny::__private::request_parts(&req);
        #(#steps)*
    }
}

fn plain(method: &VerbMethod) -> TokenStream {
    let extract = extract(method);
    let call = call(method);
    quote_spanned! {at_output(method)=>
        #extract
        ::tiny::__private::IntoResponse::into_response(#call)
    }
}

fn poll(method: &VerbMethod, every_ms: u64, stream: &Stream) -> TokenStream {
    let extract = extract(method);
    let call = call(method);
    let options = options(stream);
    let clone_request = method
        .args
        .iter()
        .any(|arg| matches!(arg, Arg::Request(_)))
        .then(|| quote!(let req = ::core::clone::Clone::clone(&req);));
    // Extracted once, when the stream opens; each call gets a clone.
    let clone_arguments = method
        .args
        .iter()
        .enumerate()
        .filter(|(_, arg)| matches!(arg, Arg::Extract { .. }))
        .map(|(at, _)| {
            let name = argument(at);
            quote!(let #name = ::core::clone::Clone::clone(&#name);)
        });
    // `poll_stream` checks `T: IntoEvent` on the whole call: spanned at the
    // return type, so that is where a non-event `T` is reported.
    let produce = quote_spanned! {at_output(method)=>
        move || {
            let this = ::tiny::__private::Arc::clone(&this);
            #clone_request
            #(#clone_arguments)*
            async move { #call }
        }
    };
    // The producer keeps the request for the stream's life: a copy that
    // does not pin the connection's read buffer.
    let hold_request = clone_request
        .is_some()
        .then(|| quote!(let req = ::tiny::__private::hold_request(req);));
    quote_spanned! {at_output(method)=>
        #extract
        #hold_request
        ::tiny::__private::poll_stream(
            #produce,
            ::tiny::__private::Duration::from_millis(#every_ms),
            #options,
        )
    }
}

/// Renders the template (400 on a bad path) and runs the guard, then opens.
fn guarded(method: &VerbMethod, template: &[Part], open: TokenStream) -> TokenStream {
    let extract = extract(method);
    let call = call(method);
    let parts = template.iter().map(|part| match part {
        Part::Literal(text) => quote!(::tiny::__private::Part::Literal(#text)),
        Part::Controller => quote!(::tiny::__private::Part::Controller),
        Part::Section => quote!(::tiny::__private::Part::Section),
        Part::Slug => quote!(::tiny::__private::Part::Slug),
    });
    let check = quote_spanned!(at_output(method)=> ::tiny::__private::Guard::check);
    quote! {
        const TEMPLATE: ::tiny::__private::Template =
            ::tiny::__private::template(&[#(#parts),*]);
        let target = match ::tiny::__private::render(&TEMPLATE, &req) {
            ::core::result::Result::Ok(target) => target,
            ::core::result::Result::Err(refused) => return refused,
        };
        #extract
        if let ::core::result::Result::Err(refused) = #check(#call) {
            return refused;
        }
        #open
    }
}

fn keyed(method: &VerbMethod, template: &[Part], every_ms: u64, stream: &Stream) -> TokenStream {
    let options = options(stream);
    guarded(
        method,
        template,
        quote! {
            ::tiny::__private::key_stream(
                target,
                ::tiny::__private::Duration::from_millis(#every_ms),
                #options,
            ).await
        },
    )
}

fn pg(method: &VerbMethod, template: &[Part], pg_key: Span, stream: &Stream) -> TokenStream {
    let options = options(stream);
    let require = quote_spanned!(pg_key=> ::tiny::__require_postgres!(););
    let open = quote! {
        #require
        ::tiny::__private::pg_stream(target, #options).await
    };
    guarded(method, template, open)
}

fn topic(method: &VerbMethod, template: &[Part], stream: &Stream) -> TokenStream {
    let options = options(stream);
    guarded(
        method,
        template,
        quote! {
            ::tiny::__private::topic_stream(target, #options).await
        },
    )
}

fn options(stream: &Stream) -> TokenStream {
    let millis = |ms: u64| quote!(::tiny::__private::Duration::from_millis(#ms));
    let keep_alive = match stream.keep_alive {
        KeepAlive::App => quote!(::tiny::__private::KeepAlive::App),
        KeepAlive::Off => quote!(::tiny::__private::KeepAlive::Off),
        KeepAlive::Every(ms) => {
            let d = millis(ms);
            quote!(::tiny::__private::KeepAlive::Every(#d))
        }
    };
    let retry = match stream.retry_ms {
        None => quote!(::core::option::Option::None),
        Some(ms) => {
            let d = millis(ms);
            quote!(::core::option::Option::Some(#d))
        }
    };
    quote! {
        ::tiny::__private::StreamOptions { keep_alive: #keep_alive, retry: #retry }
    }
}
