//! syn input → the typed model, with every problem recorded at its token.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned as _;
use syn::{
    Attribute, Expr, ExprLit, FnArg, ImplItem, ImplItemFn, ItemImpl, ItemStruct, Lit, LitStr,
    ReturnType, Type,
};

use crate::diag::Diagnostics;
use crate::model::{
    Build, ControllerImpl, ControllerStruct, DEFAULT_KEY_POLL_MS, DEFAULT_POLL_MS, Part,
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
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("path") {
            let lit: LitStr = meta.value()?.parse()?;
            if path.is_some() {
                return Err(meta.error("`path` is given twice"));
            }
            match check_path(&lit.value()) {
                Ok(()) => path = Some(lit.value()),
                Err(message) => return Err(syn::Error::new(lit.span(), message)),
            }
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown `controller` argument; expected {CONTROLLER_ARGS}"
            )))
        }
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
    if let Some((_, trait_path, _)) = &item.trait_ {
        diag.error_at(
            trait_path,
            "`#[controller]` goes on the controller's own `impl` block, not on a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        diag.error_at(&item.generics, "a controller cannot be generic");
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
    ControllerImpl {
        self_ty: (*item.self_ty).clone(),
        methods,
    }
}

fn verb_method(
    function: &ImplItemFn,
    stream: Option<(Stream, Span)>,
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
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.mutability.is_none() => {}
        Some(other) => diag.error_at(other, "a verb method takes `&self` first"),
        None => diag.error(sig.ident.span(), "a verb method takes `&self` first"),
    }
    let request = match inputs.next() {
        None => RequestArg::None,
        Some(FnArg::Typed(arg)) => match request_arg(&arg.ty) {
            Some(kind) => kind,
            None => {
                diag.error_at(
                    &arg.ty,
                    "the only argument after `&self` is `&Request` or `Request`",
                );
                RequestArg::None
            }
        },
        Some(other) => {
            diag.error_at(
                other,
                "the only argument after `&self` is `&Request` or `Request`",
            );
            RequestArg::None
        }
    };
    for extra in inputs {
        diag.error_at(extra, "a verb method takes `&self` and at most a `Request`");
    }
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let stream = stream.map(|(stream, attr_span)| {
        if let StreamMode::Poll { .. } = stream.mode
            && !returns_option(&sig.output)
        {
            let message = "a poll method must return `Option<T>`: `Some(x)` sends a frame, `None` sends nothing";
            match &sig.output {
                ReturnType::Default => diag.error(attr_span, message),
                ReturnType::Type(_, ty) => diag.error_at(ty, message),
            }
        }
        stream
    });
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

fn returns_option(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let Type::Path(path) = &**ty else {
        return false;
    };
    path.path.segments.last().is_some_and(|last| {
        last.ident == "Option" && matches!(last.arguments, syn::PathArguments::AngleBracketed(_))
    })
}

/// Whether an attribute is `#[sse]`, however it is imported.
pub(crate) fn is_sse(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "sse")
}

/// Removes every `#[sse(...)]` from a method and parses the first one.
fn take_sse_attributes(
    attrs: &mut Vec<Attribute>,
    diag: &mut Diagnostics,
) -> Option<(Stream, Span)> {
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
        found = Some((sse_arguments(&attr, diag), attr.span()));
    }
    *attrs = kept;
    found
}

/// `poll = 5`, `key = "…"`, `pg = "…"`, `keep_alive = "30s"`, `retry = "2s"`.
fn sse_arguments(attr: &Attribute, diag: &mut Diagnostics) -> Stream {
    let mut poll: Option<u64> = None;
    let mut key: Option<Vec<Part>> = None;
    let mut pg: Option<Vec<Part>> = None;
    let mut keep_alive: Option<Option<u64>> = None;
    let mut retry: Option<u64> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut source_given = false;

    if let syn::Meta::List(_) = attr.meta {
        let result = attr.parse_nested_meta(|meta| {
            let Some(name) = meta.path.get_ident().map(|i| i.to_string()) else {
                return Err(meta.error(unknown_sse_argument("this")));
            };
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
                "poll" => poll = Some(duration(&value, diag)),
                "retry" => retry = Some(duration(&value, diag)),
                "keep_alive" => keep_alive = Some(keep_alive_value(&value, diag)),
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
                    let Some(lit) = string_literal(&value) else {
                        diag.error_at(&value, format!("`{name}` takes a string, as in `{name} = \"user:<section>:updates\"`"));
                        return Ok(());
                    };
                    match template::parse(lit) {
                        Ok(parts) if name == "pg" => {
                            check_channel(lit, &parts, diag);
                            pg = Some(parts);
                        }
                        Ok(parts) => key = Some(parts),
                        Err(error) => diag.push(error),
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

    if pg.is_some() && poll.is_some() {
        diag.error(
            attr.span(),
            "`poll` has no meaning with `pg`: notifications arrive as they are sent",
        );
    }
    let mode = match (key, pg) {
        (Some(template), _) => StreamMode::Key {
            template,
            every_ms: poll.unwrap_or(DEFAULT_KEY_POLL_MS),
        },
        (None, Some(template)) => StreamMode::Pg { template },
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
fn duration(value: &Expr, diag: &mut Diagnostics) -> u64 {
    let parsed = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int
            .base10_parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000)),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => parse_duration(&s.value()),
        _ => None,
    };
    match parsed {
        Some(0) => {
            diag.error_at(value, "the duration must be greater than zero");
            1
        }
        Some(ms) => ms,
        None => {
            diag.error_at(
                value,
                "expected a duration: whole seconds (`5`) or a string like \"250ms\", \"2s\", \"1m\", \"1h\"",
            );
            1
        }
    }
}

fn keep_alive_value(value: &Expr, diag: &mut Diagnostics) -> Option<u64> {
    if let Some(lit) = string_literal(value)
        && lit.value() == "off"
    {
        return None;
    }
    Some(duration(value, diag))
}

pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.checked_mul(factor)
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
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("2s"), Some(2000));
        assert_eq!(parse_duration("1m"), Some(60_000));
        assert_eq!(parse_duration("2 s"), Some(2000));
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("2d"), None);
        assert_eq!(parse_duration("ms"), None);
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
