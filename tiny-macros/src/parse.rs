//! syn input → the typed model, with every problem recorded at its token.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned as _;
use syn::{
    Attribute, Expr, ExprLit, FnArg, ImplItem, ImplItemFn, ItemImpl, ItemStruct, Lit, LitStr,
    ReturnType, Type,
};

use crate::diag::Diagnostics;
use crate::model::{
    Build, ControllerImpl, ControllerStruct, DEFAULT_KEY_POLL_MS, DEFAULT_POLL_MS, KeepAlive, Part,
    RequestArg, Stream, StreamMode, Verb, VerbMethod,
};
use crate::template::{self, MAX_CHANNEL_LEN};

/// The arguments `#[controller(...)]` accepts on a struct.
const CONTROLLER_ARGS: &str = "`path`";
/// The arguments `#[sse(...)]` accepts, in the order errors list them.
const SSE_ARGS: [&str; 5] = ["poll", "key", "pg", "keep_alive", "retry"];

fn verb_list() -> String {
    Verb::NAMES
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `#[controller]` or `#[controller(path = "/x")]` on a struct.
pub(crate) fn controller_struct(
    args: TokenStream,
    item: &ItemStruct,
    diag: &mut Diagnostics,
) -> ControllerStruct {
    let mut path: Option<String> = None;
    let mut path_given = false;
    let parser = syn::meta::parser(|meta| {
        if !meta.path.is_ident("path") {
            return Err(meta.error(format!(
                "unknown `controller` argument `{}`; expected {CONTROLLER_ARGS}",
                path_name(&meta.path)
            )));
        }
        let value: Expr = meta.value()?.parse()?;
        if path_given {
            diag.error_at(&meta.path, "`path` is given twice");
            return Ok(());
        }
        path_given = true;
        let Some(lit) = string_literal(&value) else {
            diag.error_at(
                &value,
                "`path` takes a string, as in `path = \"/sse/dashboard\"`",
            );
            return Ok(());
        };
        match check_path(&lit.value()) {
            Ok(()) => path = Some(lit.value()),
            Err(message) => diag.error_at(lit, message),
        }
        Ok(())
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        diag.push(error);
    }
    if !item.generics.params.is_empty() {
        diag.error_at(
            &item.generics,
            "a controller cannot be generic: tiny builds exactly one instance of it",
        );
    }
    let build = match item.fields {
        syn::Fields::Unit => Build::Unit,
        _ => Build::Default,
    };
    ControllerStruct {
        path: path.unwrap_or_else(|| route_from_name(&item.ident.to_string())),
        ident: item.ident.clone(),
        build,
    }
}

/// `/` then segments of URL-safe characters; no `{`, `}` or `*`, which the
/// router would read as parameters, and no empty segment.
fn check_path(path: &str) -> Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    if !path.starts_with('/') {
        return Err(format!("the path must start with `/`, as in \"/{path}\""));
    }
    if path.ends_with('/') {
        return Err(
            "the path must not end with `/`: a controller answers deeper paths anyway".into(),
        );
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return Err("the path has an empty segment (`//`)".into());
        }
        if let Some(bad) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')))
        {
            return Err(format!(
                "`{bad}` cannot appear in a controller path; use letters, digits, `-`, `_`, `.` and `~`"
            ));
        }
    }
    Ok(())
}

/// `UserUpdates` → `/user-updates`, `HTTPStatus` → `/http-status`, `Home` → `/`.
pub(crate) fn route_from_name(name: &str) -> String {
    if name == "Home" {
        return "/".into();
    }
    let chars: Vec<char> = name.chars().collect();
    let mut route = String::from("/");
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_uppercase() && next_is_lower)
            {
                route.push('-');
            }
        }
        if c == '_' {
            route.push('-');
        } else {
            route.extend(c.to_lowercase());
        }
    }
    route
}

/// `#[controller]` on an impl block: every method must be a verb.
pub(crate) fn controller_impl(
    args: TokenStream,
    item: &mut ItemImpl,
    diag: &mut Diagnostics,
) -> ControllerImpl {
    if !args.is_empty() {
        diag.error_at(
            &args,
            "`#[controller]` on an impl block takes no arguments; put `path = …` on the struct",
        );
    }
    let self_ty = (*item.self_ty).clone();
    if let Some((_, trait_path, _)) = &item.trait_ {
        diag.error_at(
            trait_path,
            "`#[controller]` goes on the controller's own `impl` block, not on a trait impl",
        );
        // Its methods are the trait's, not verbs: one message is enough. The
        // `#[sse]`s go, so they do not add one each.
        for impl_item in &mut item.items {
            if let ImplItem::Fn(function) = impl_item {
                function.attrs.retain(|attr| !is_sse(attr));
            }
        }
        return ControllerImpl {
            self_ty,
            methods: Vec::new(),
        };
    }
    if !item.generics.params.is_empty() {
        diag.error_at(
            &item.generics,
            "a controller cannot be generic: tiny builds exactly one instance of it",
        );
    }
    let mut methods = Vec::new();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(function) = impl_item {
            let stream = take_sse_attributes(&mut function.attrs, diag);
            if let Some(method) = verb_method(function, stream, diag) {
                methods.push(method);
            }
        }
    }
    if methods.is_empty() && diag.is_empty() {
        diag.error(
            item.self_ty.span(),
            format!(
                "a controller needs at least one verb method: {}",
                verb_list()
            ),
        );
    }
    ControllerImpl { self_ty, methods }
}

fn verb_method(
    function: &ImplItemFn,
    stream: Option<Stream>,
    diag: &mut Diagnostics,
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
    let request = match inputs.next() {
        None => RequestArg::None,
        Some(FnArg::Typed(arg)) => match request_arg(&arg.ty) {
            Some(kind) => kind,
            None => {
                diag.error_at(
                    &arg.ty,
                    "the only argument after `&self` is `&Request` or `Request`; \
                     read path values from `req.path()` (`section`, `slug`)",
                );
                RequestArg::None
            }
        },
        Some(other) => {
            diag.error_at(other, "`self` can only be the first argument");
            RequestArg::None
        }
    };
    for extra in inputs {
        diag.error_at(
            extra,
            "a verb method takes `&self` and at most a `&Request`; \
             read path values and the body from the request",
        );
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
        request,
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

/// `T` of a return type written `Option<T>` (by any path).
fn option_argument(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(path) = ungroup(ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
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

/// The message of an `#[sse]` that no `#[controller]` impl consumed.
pub(crate) fn sse_outside_controller(item: TokenStream) -> &'static str {
    // A method (`&self`) is most likely in an impl block that lacks
    // `#[controller]`; anything else is not a verb method at all.
    match syn::parse2::<ImplItemFn>(item) {
        Ok(function) if function.sig.receiver().is_some() => {
            "`#[sse]` works only on a verb method inside a `#[controller]` impl block; \
             add `#[controller]` to the `impl` block"
        }
        _ => {
            "`#[sse]` goes on a verb method, as `fn get(&self)`, inside a `#[controller]` impl block"
        }
    }
}

/// Whether an attribute is `#[sse]`, however it is imported.
pub(crate) fn is_sse(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "sse")
}

/// Removes every `#[sse(...)]` from a method and parses the first one.
fn take_sse_attributes(attrs: &mut Vec<Attribute>, diag: &mut Diagnostics) -> Option<Stream> {
    let mut found = None;
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if !is_sse(&attr) {
            kept.push(attr);
            continue;
        }
        if found.is_some() {
            diag.error_at(
                &attr,
                "a method takes one `#[sse(...)]`; merge the arguments into it",
            );
            continue;
        }
        found = Some(sse_arguments(&attr, diag));
    }
    *attrs = kept;
    found
}

/// `poll = 5`, `key = "…"`, `pg = "…"`, `keep_alive = "30s"`, `retry = "2s"`.
fn sse_arguments(attr: &Attribute, diag: &mut Diagnostics) -> Stream {
    let mut poll: Option<(u64, syn::Path)> = None;
    let mut key: Option<Vec<Part>> = None;
    let mut pg: Option<(Vec<Part>, Span)> = None;
    let mut keep_alive = KeepAlive::App;
    let mut retry: Option<u64> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut source_given = false;

    if let syn::Meta::List(_) = attr.meta {
        let result = attr.parse_nested_meta(|meta| {
            let name = path_name(&meta.path);
            if !SSE_ARGS.contains(&name.as_str()) {
                return Err(meta.error(unknown_sse_argument(&name)));
            }
            if seen.contains(&name) {
                // Read the value anyway, so the next argument still parses.
                let _: Expr = meta.value()?.parse()?;
                diag.error_at(&meta.path, format!("`{name}` is given twice"));
                return Ok(());
            }
            seen.push(name.clone());
            let value: Expr = meta.value()?.parse()?;
            match name.as_str() {
                "poll" => poll = Some((duration(&value, diag), meta.path.clone())),
                "retry" => retry = Some(duration(&value, diag)),
                "keep_alive" => keep_alive = keep_alive_value(&value, diag),
                _ => {
                    // `key` or `pg`: the stream's source.
                    if source_given {
                        diag.error_at(
                            &meta.path,
                            "`key` and `pg` cannot be combined: a stream has one source",
                        );
                        return Ok(());
                    }
                    source_given = true;
                    // On error the mode is still known (with an empty template,
                    // never expanded), so no poll-mode check adds a message.
                    let parts = match string_literal(&value) {
                        None => {
                            diag.error_at(
                                &value,
                                format!("`{name}` takes a string, as in `{name} = \"user:<section>:updates\"`"),
                            );
                            Vec::new()
                        }
                        Some(lit) => match template::parse(lit) {
                            Ok(parts) => {
                                if name == "pg" {
                                    check_channel(lit, &parts, diag);
                                }
                                parts
                            }
                            Err(error) => {
                                diag.push(error);
                                Vec::new()
                            }
                        },
                    };
                    if name == "pg" {
                        pg = Some((parts, meta.path.span()));
                    } else {
                        key = Some(parts);
                    }
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            diag.push(error);
        }
    } else if let syn::Meta::NameValue(nv) = &attr.meta {
        diag.error_at(nv, "write `#[sse(poll = 5)]`, with parentheses");
    }

    if let (Some(_), Some((_, poll_key))) = (&pg, &poll) {
        diag.error_at(
            poll_key,
            "`poll` has no meaning with `pg`: each notification is sent as it arrives; remove `poll`",
        );
    }
    let poll = poll.map(|(ms, _)| ms);
    let mode = match (key, pg) {
        (Some(template), _) => StreamMode::Key {
            template,
            every_ms: poll.unwrap_or(DEFAULT_KEY_POLL_MS),
        },
        (None, Some((template, pg_key))) => StreamMode::Pg { template, pg_key },
        (None, None) => StreamMode::Poll {
            every_ms: poll.unwrap_or(DEFAULT_POLL_MS),
        },
    };
    Stream {
        mode,
        keep_alive,
        retry_ms: retry,
    }
}

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

fn unknown_sse_argument(name: &str) -> String {
    format!(
        "unknown `sse` argument `{name}`; expected one of {}",
        SSE_ARGS.map(|a| format!("`{a}`")).join(", ")
    )
}

fn string_literal(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

/// The fixed text of a channel must fit PostgreSQL's 63-byte limit.
fn check_channel(lit: &LitStr, parts: &[Part], diag: &mut Diagnostics) {
    let fixed: usize = parts
        .iter()
        .map(|p| match p {
            Part::Literal(text) => text.len(),
            _ => 1,
        })
        .sum();
    if fixed > MAX_CHANNEL_LEN {
        diag.error_at(
            lit,
            format!("a PostgreSQL channel name has at most {MAX_CHANNEL_LEN} bytes; this one has at least {fixed}"),
        );
    }
}

/// `5` (seconds) or `"250ms"`, `"2s"`, `"1m"`, `"1h"`; in milliseconds.
/// On error, 1 (never expanded: the error is recorded).
fn duration(value: &Expr, diag: &mut Diagnostics) -> u64 {
    match duration_ms(value) {
        Ok(0) => {
            diag.error_at(value, "the duration must be greater than zero");
            1
        }
        Ok(ms) => ms,
        Err(message) => {
            diag.error_at(value, message);
            1
        }
    }
}

const DURATION_FORMS: &str =
    "whole seconds (`5`) or a string with a unit: \"250ms\", \"2s\", \"1m\", \"1h\"";

fn duration_ms(value: &Expr) -> Result<u64, String> {
    let too_long = || "the duration is too long".to_owned();
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() => int
            .base10_parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(too_long),
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => Err(match float.base10_parse::<f64>() {
            Ok(seconds) if seconds > 0.0 && (seconds * 1000.0).fract() == 0.0 => format!(
                "a duration in seconds is a whole number; write \"{}ms\"",
                seconds * 1000.0
            ),
            _ => format!("expected a duration: {DURATION_FORMS}"),
        }),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => parse_duration(&s.value()),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => Err("a duration cannot be negative".to_owned()),
        _ => Err(format!("expected a duration: {DURATION_FORMS}")),
    }
}

fn keep_alive_value(value: &Expr, diag: &mut Diagnostics) -> KeepAlive {
    if let Some(lit) = string_literal(value)
        && lit.value() == "off"
    {
        return KeepAlive::Off;
    }
    match duration_ms(value) {
        Ok(0) => diag.error_at(
            value,
            "the duration must be greater than zero; `keep_alive = \"off\"` turns keep-alive off",
        ),
        Ok(ms) => return KeepAlive::Every(ms),
        Err(message) => diag.error_at(value, format!("{message}, or \"off\" for no keep-alive")),
    }
    KeepAlive::Every(1)
}

/// `"250ms"`, `"2s"`, `"1m"`, `"1h"` (a space before the unit is allowed).
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(format!("expected a duration: {DURATION_FORMS}"));
    }
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => {
            return Err(format!(
                "the duration has no unit; write `{number}` for seconds, or \"{number}s\", \"{number}ms\""
            ));
        }
        other => {
            return Err(format!(
                "unknown unit `{other}`; expected `ms`, `s`, `m` or `h`, as in \"250ms\", \"2s\""
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| "the duration is too long".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_from_names() {
        assert_eq!(route_from_name("Heartbeat"), "/heartbeat");
        assert_eq!(route_from_name("UserUpdates"), "/user-updates");
        assert_eq!(route_from_name("Home"), "/");
        assert_eq!(route_from_name("HTTPStatus"), "/http-status");
        assert_eq!(route_from_name("Page2Items"), "/page2-items");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("2s"), Ok(2000));
        assert_eq!(parse_duration("1m"), Ok(60_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("2 s"), Ok(2000));
        assert_eq!(parse_duration("0ms"), Ok(0));
        assert!(parse_duration("2").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("2d")
                .unwrap_err()
                .contains("unknown unit `d`")
        );
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("`parsecs`")
        );
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    /// The messages `#[controller]` reports for an impl block.
    fn impl_errors(mut item: ItemImpl) -> Vec<String> {
        let mut diag = Diagnostics::default();
        controller_impl(TokenStream::new(), &mut item, &mut diag);
        diag.messages()
    }

    fn struct_errors(args: TokenStream, item: ItemStruct) -> Vec<String> {
        let mut diag = Diagnostics::default();
        controller_struct(args, &item, &mut diag);
        diag.messages()
    }

    #[test]
    fn valid_impls_have_no_errors() {
        let errors = impl_errors(syn::parse_quote! {
            impl Ticks {
                #[sse(poll = "250ms", keep_alive = "off", retry = "2s")]
                async fn get(&self, req: &Request) -> Option<Event> { None }
                fn post(&self, req: tiny::Request) -> tiny::Result<()> { Ok(()) }
            }
        });
        assert_eq!(errors, Vec::<String>::new());
    }

    #[test]
    fn unknown_sse_argument_lists_every_accepted_key() {
        let errors = impl_errors(syn::parse_quote! {
            impl Ticks {
                #[sse(pol = 5)]
                fn get(&self) -> Option<String> { None }
            }
        });
        assert_eq!(
            errors,
            [
                "unknown `sse` argument `pol`; expected one of `poll`, `key`, `pg`, `keep_alive`, `retry`"
            ]
        );
    }

    #[test]
    fn a_bad_template_is_one_error_not_a_poll_error_too() {
        for args in [
            quote::quote!(key = "user:<id>"),
            quote::quote!(key = user),
            quote::quote!(pg = ""),
        ] {
            let errors = impl_errors(syn::parse_quote! {
                impl Updates {
                    #[sse(#args)]
                    fn get(&self) -> tiny::Result<()> { Ok(()) }
                }
            });
            assert_eq!(errors.len(), 1, "{args}: {errors:?}");
        }
    }

    #[test]
    fn a_trait_impl_is_one_error() {
        let errors = impl_errors(syn::parse_quote! {
            impl Default for Ticks {
                #[sse(poll = 5)]
                fn default() -> Self { Ticks }
            }
        });
        assert_eq!(
            errors,
            ["`#[controller]` goes on the controller's own `impl` block, not on a trait impl"]
        );
    }

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
                #[sse(key = "<section>")]
                fn post(&self) {}
            }
        });
        assert_eq!(errors, Vec::<String>::new());
    }

    #[test]
    fn durations_say_what_is_wrong() {
        let cases = [
            (quote::quote!(poll = 0), "greater than zero"),
            (quote::quote!(poll = -1), "cannot be negative"),
            (quote::quote!(poll = 2.5), "write \"2500ms\""),
            (quote::quote!(poll = "5 parsecs"), "unknown unit `parsecs`"),
            (quote::quote!(retry = "2"), "no unit"),
            (quote::quote!(keep_alive = "never"), "\"off\""),
        ];
        for (args, expected) in cases {
            let errors = impl_errors(syn::parse_quote! {
                impl Ticks {
                    #[sse(#args)]
                    fn get(&self) -> Option<String> { None }
                }
            });
            assert_eq!(errors.len(), 1, "{args}: {errors:?}");
            assert!(errors[0].contains(expected), "{args}: {errors:?}");
        }
    }

    #[test]
    fn repeated_and_conflicting_arguments() {
        let errors = impl_errors(syn::parse_quote! {
            impl Ticks {
                #[sse(poll = 5, poll = 6)]
                fn get(&self) -> Option<String> { None }
                #[sse(key = "a", pg = "b")]
                fn post(&self) {}
                #[sse(pg = "b", poll = 5)]
                fn put(&self) {}
            }
        });
        assert_eq!(
            errors,
            [
                "`poll` is given twice",
                "`key` and `pg` cannot be combined: a stream has one source",
                "`poll` has no meaning with `pg`: each notification is sent as it arrives; remove `poll`",
            ]
        );
    }

    #[test]
    fn receivers_and_arguments() {
        let errors = impl_errors(syn::parse_quote! {
            impl Users {
                fn get(&mut self) -> String { String::new() }
                fn post(self) -> String { String::new() }
                fn put(req: &Request) -> String { String::new() }
                fn patch(&self, id: u64) -> String { String::new() }
                fn delete(&self, req: &Request, id: u64) -> String { String::new() }
            }
        });
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].contains("not `&mut self`"));
        assert!(errors[1].contains("not `self`"));
        assert!(errors[2].contains("`put` needs `&self`"));
        assert!(errors[3].contains("`req.path()`"));
        assert!(errors[4].contains("at most a `&Request`"));
    }

    #[test]
    fn controller_struct_arguments() {
        let unit: ItemStruct = syn::parse_quote!(
            struct Beat;
        );
        let errors = |args| struct_errors(args, unit.clone());
        assert_eq!(errors(quote::quote!(path = "/beat")), Vec::<String>::new());
        assert_eq!(
            errors(quote::quote!(route = "/beat")),
            ["unknown `controller` argument `route`; expected `path`"]
        );
        assert_eq!(
            errors(quote::quote!(path = "/a", path = "/b")),
            ["`path` is given twice"]
        );
        assert_eq!(
            errors(quote::quote!(path = beat)),
            ["`path` takes a string, as in `path = \"/sse/dashboard\"`"]
        );
        assert_eq!(
            errors(quote::quote!(path = "beat")),
            ["the path must start with `/`, as in \"/beat\""]
        );
        let generic: ItemStruct = syn::parse_quote!(
            struct Feed<T>(T);
        );
        assert_eq!(struct_errors(TokenStream::new(), generic).len(), 1);
    }

    #[test]
    fn arguments_are_named_as_written() {
        let errors = impl_errors(syn::parse_quote! {
            impl Ticks {
                #[sse(tiny::poll = 5)]
                fn get(&self) -> Option<String> { None }
            }
        });
        assert!(errors[0].starts_with("unknown `sse` argument `tiny::poll`"));
    }

    #[test]
    fn paths() {
        assert!(check_path("/sse/dashboard").is_ok());
        assert!(check_path("/").is_ok());
        assert!(check_path("sse").is_err());
        assert!(check_path("/a/").is_err());
        assert!(check_path("/a//b").is_err());
        assert!(check_path("/a/{id}").is_err());
    }
}
