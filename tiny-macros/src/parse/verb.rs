//! One verb method of a `#[controller]` impl block: its name is the verb,
//! it takes `&self`, then any of `&Request`/`Request`, `tiny::State<T>` and
//! axum extractors (a body extractor last), and a poll stream returns an
//! `Option`.

use proc_macro2::Span;
use syn::spanned::Spanned as _;
use syn::{FnArg, ImplItemFn, ReturnType, Type};

use crate::diag::Diagnostics;
use crate::model::{Arg, RequestArg, Stream, StreamMode, Verb, VerbMethod};

/// The verb methods, as errors list them.
pub(super) fn verb_list() -> String {
    Verb::NAMES
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The model of `function`, or none when its name is not a verb.
pub(super) fn verb_method(
    function: &ImplItemFn,
    stream: Option<Stream>,
    diag: &Diagnostics,
) -> Option<VerbMethod> {
    let sig = &function.sig;
    let name = sig.ident.to_string();
    let Some(verb) = Verb::from_name(&name) else {
        diag.error(
            sig.ident.span(),
            format!(
                "`{name}` is not a verb method; expected one of {} \
                 (put other methods in a separate `impl` block)",
                verb_list()
            ),
        );
        return None;
    };
    if !sig.generics.params.is_empty() {
        diag.error_at(&sig.generics, "a verb method cannot be generic");
    }
    if let Some(stream) = &stream
        && verb != Verb::Get
    {
        // A browser's `EventSource` only ever sends GET.
        diag.error_at(
            &stream.attr,
            format!(
                "`#[sse(...)]` goes on `get`: an `EventSource` only sends GET requests, \
                 so a stream on `{name}` could never be opened by a browser"
            ),
        );
    }
    let mut inputs = sig.inputs.iter().peekable();
    match inputs.peek() {
        Some(FnArg::Receiver(receiver)) => {
            inputs.next();
            if receiver.colon_token.is_some() {
                diag.error_at(receiver, "write the receiver of a verb method as `&self`");
            } else if receiver.mutability.is_some() && receiver.reference.is_some() {
                diag.error_at(
                    receiver,
                    "a verb method takes `&self`, not `&mut self`: one instance serves \
                     every request at once; keep mutable state in a `Mutex` or an atomic",
                );
            } else if receiver.reference.is_none() {
                diag.error_at(
                    receiver,
                    "a verb method takes `&self`, not `self`: one instance serves every request",
                );
            }
        }
        // `fn get(req: &Request)`: the receiver is missing, the rest is checked.
        Some(FnArg::Typed(_)) | None => diag.error_at(
            &sig.ident,
            format!("`{name}` needs `&self` as its first argument: `fn {name}(&self, …)`"),
        ),
    }
    let typed: Vec<_> = inputs.collect();
    let count = typed.len();
    let mut args = Vec::with_capacity(count);
    let mut has_request = false;
    for (at, input) in typed.into_iter().enumerate() {
        let arg = match input {
            FnArg::Typed(arg) => arg,
            FnArg::Receiver(other) => {
                diag.error_at(other, "`self` can only be the first argument");
                continue;
            }
        };
        if let Some(kind) = request_arg(&arg.ty) {
            if has_request {
                diag.error_at(
                    &arg.ty,
                    "the request is taken once: `&Request` or `Request`",
                );
            }
            has_request = true;
            args.push(Arg::Request(kind));
            continue;
        }
        match extractor_problem(&arg.ty) {
            Some(problem) => diag.error_at(&arg.ty, problem),
            None => args.push(Arg::Extract {
                ty: arg.ty.clone(),
                last: at + 1 == count,
                state: state_argument(&arg.ty).cloned().map(Box::new),
            }),
        }
    }
    let mut output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => primary_span(ty),
    };
    if let Some(stream) = &stream
        && let StreamMode::Poll { .. } = stream.mode
    {
        match option_argument(&sig.output) {
            // `T: IntoEvent` is checked on what is inside the `Option`.
            Some(event) => output_span = primary_span(event),
            None => {
                let message = "a poll method must return `Option<T>`: \
                               `Some(x)` sends a frame, `None` sends nothing";
                match &sig.output {
                    ReturnType::Default => diag.error_at(
                        sig,
                        format!("{message}; add `-> Option<String>` or another event type"),
                    ),
                    ReturnType::Type(_, ty) => diag.error_at(ty, message),
                }
            }
        }
    }
    Some(VerbMethod {
        verb,
        ident: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        args,
        output_span,
        stream,
    })
}

fn request_arg(ty: &Type) -> Option<RequestArg> {
    let (kind, inner) = match ty {
        Type::Reference(r) if r.mutability.is_none() => (RequestArg::Borrowed, &*r.elem),
        other => (RequestArg::Owned, other),
    };
    match inner {
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            (last.ident == "Request" && last.arguments.is_none()).then_some(kind)
        }
        _ => None,
    }
}

/// Why `ty` cannot be an extractor argument, if it cannot.
fn extractor_problem(ty: &Type) -> Option<&'static str> {
    match ungroup(ty) {
        Type::Reference(_) => Some(
            "a verb method takes extractors by value (`Query<T>`, `State<T>`, `Json<T>`); \
             the only reference it takes is `&Request`",
        ),
        Type::ImplTrait(_) => Some(
            "`impl Trait` is not an argument type here: name the extractor (`Query<T>`, `Json<T>`…)",
        ),
        Type::Infer(_) => Some("name the argument's type: it says what is extracted"),
        Type::Path(_) | Type::Tuple(_) | Type::Paren(_) | Type::Group(_) => None,
        _ => Some(
            "a verb method's arguments are `&Request`, `Request`, `tiny::State<T>` or axum \
             extractors (`Query<T>`, `HeaderMap`, `Json<T>` last…)",
        ),
    }
}

/// `T` of an argument written `State<T>` (by any path).
fn state_argument(ty: &Type) -> Option<&Type> {
    single_argument(ty, "State")
}

/// `T` of a return type written `Option<T>` (by any path).
fn option_argument(output: &ReturnType) -> Option<&Type> {
    match output {
        ReturnType::Type(_, ty) => single_argument(ty, "Option"),
        ReturnType::Default => None,
    }
}

/// `T` of a type written `<name><T>` (by any path).
fn single_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ungroup(ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(ty) if args.args.len() == 1 => Some(ty),
        _ => None,
    }
}

fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            _ => return ty,
        }
    }
}

/// The one token a type error about `ty` is best reported at: the type's
/// name (`Result` in `tiny::Result<String>`), since a span cannot cover
/// several tokens outside a nightly compiler.
fn primary_span(ty: &Type) -> Span {
    match ungroup(ty) {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map_or_else(|| ty.span(), |last| last.ident.span()),
        Type::Reference(reference) => primary_span(&reference.elem),
        other => other.span(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::impl_errors;

    #[test]
    fn poll_methods_must_return_an_option() {
        let errors = impl_errors(syn::parse_quote! {
            impl Ticks {
                #[sse(poll = 5)]
                fn get(&self) -> String { String::new() }
            }
        });
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("a poll method must return `Option<T>`"));
        // Any path to `Option` will do; key streams return a guard instead.
        let errors = impl_errors(syn::parse_quote! {
            impl Ticks {
                #[sse(poll = 5)]
                fn get(&self) -> core::option::Option<&'static str> { None }
            }
        });
        assert_eq!(errors, Vec::<String>::new());
    }

    #[test]
    fn streams_go_on_get_only() {
        let errors = impl_errors(syn::parse_quote! {
            impl Jobs {
                #[sse(key = "<section>")]
                fn post(&self) {}
                #[sse(topic = "<section>")]
                fn get(&self) {}
            }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("`#[sse(...)]` goes on `get`"),
            "{errors:?}"
        );
    }

    #[test]
    fn receivers_and_arguments() {
        let errors = impl_errors(syn::parse_quote! {
            impl Users {
                fn get(&mut self) -> String { String::new() }
                fn post(self) -> String { String::new() }
                fn put(req: &Request) -> String { String::new() }
                fn patch(&self, query: &Query<Page>) -> String { String::new() }
                fn delete(&self, req: &Request, again: Request) -> String { String::new() }
                fn options(&self, body: impl Sized) -> String { String::new() }
            }
        });
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert!(errors[0].contains("not `&mut self`"));
        assert!(errors[1].contains("not `self`"));
        assert!(errors[2].contains("`put` needs `&self`"));
        assert!(errors[3].contains("takes extractors by value"));
        assert!(errors[4].contains("the request is taken once"));
        assert!(errors[5].contains("`impl Trait` is not an argument type"));
    }

    #[test]
    fn extractors_and_state_are_arguments() {
        let errors = impl_errors(syn::parse_quote! {
            impl Users {
                fn get(&self, db: State<Db>, Query(page): Query<Page>, req: &Request) -> String { String::new() }
                async fn post(&self, headers: HeaderMap, Json(user): Json<User>) -> String { String::new() }
            }
        });
        assert_eq!(errors, Vec::<String>::new());
    }
}
