//! `#[controller]` on a struct (its route) and on the struct's impl block
//! (its verb methods).

use proc_macro2::TokenStream;
use syn::spanned::Spanned as _;
use syn::{Expr, ImplItem, ItemImpl, ItemStruct};

use super::attr::Attr;
use super::sse::{is_sse, take_sse_attributes};
use super::verb::{verb_list, verb_method};
use super::{path_name, string_literal};
use crate::diag::Diagnostics;
use crate::model::{Build, ControllerImpl, ControllerStruct};

/// The arguments `#[controller(...)]` accepts on a struct.
const CONTROLLER_ARGS: &str = "`path`";

/// `#[controller]` or `#[controller(path = "/x")]` on a struct.
pub(crate) fn controller_struct(
    args: TokenStream,
    item: &ItemStruct,
    diag: &Diagnostics,
) -> ControllerStruct {
    let mut path = Attr::none(diag, "path");
    let parser = syn::meta::parser(|meta| {
        if !meta.path.is_ident("path") {
            return Err(meta.error(format!(
                "unknown `controller` argument `{}`; expected {CONTROLLER_ARGS}",
                path_name(&meta.path)
            )));
        }
        path.set(&meta.path, meta.value()?.parse::<Expr>()?);
        Ok(())
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        diag.push(error);
    }
    let path = path.get().and_then(|value| controller_path(&value, diag));
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

/// The value of `path = "…"`, when it is a valid path.
fn controller_path(value: &Expr, diag: &Diagnostics) -> Option<String> {
    let Some(lit) = string_literal(value) else {
        diag.error_at(
            value,
            "`path` takes a string, as in `path = \"/sse/dashboard\"`",
        );
        return None;
    };
    let path = lit.value();
    match check_path(&path) {
        Ok(()) => Some(path),
        Err(message) => {
            diag.error_at(lit, message);
            None
        }
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
fn route_from_name(name: &str) -> String {
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
    diag: &Diagnostics,
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

#[cfg(test)]
mod tests {
    use super::super::impl_errors;
    use super::*;

    fn struct_errors(args: TokenStream, item: ItemStruct) -> Vec<String> {
        let diag = Diagnostics::default();
        controller_struct(args, &item, &diag);
        diag.messages()
    }

    #[test]
    fn routes_from_names() {
        assert_eq!(route_from_name("Heartbeat"), "/heartbeat");
        assert_eq!(route_from_name("UserUpdates"), "/user-updates");
        assert_eq!(route_from_name("Home"), "/");
        assert_eq!(route_from_name("HTTPStatus"), "/http-status");
        assert_eq!(route_from_name("Page2Items"), "/page2-items");
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
        // The repeated one is to be removed: what it says is not checked.
        assert_eq!(
            errors(quote::quote!(path = "/a", path = "b")),
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
    fn the_path_argument_names_the_route() {
        let diag = Diagnostics::default();
        let item: ItemStruct = syn::parse_quote!(
            struct UserUpdates;
        );
        let model = controller_struct(quote::quote!(path = "/users"), &item, &diag);
        assert_eq!(model.path, "/users");
        let model = controller_struct(TokenStream::new(), &item, &diag);
        assert_eq!(model.path, "/user-updates");
        assert!(diag.is_empty());
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
}
