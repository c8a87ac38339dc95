//! `#[sse(...)]` on a verb method: where the stream's events come from
//! (`poll`, `key`, `pg` or `topic`) and its `keep_alive` and `retry` settings.
//!
//! Arguments are read in two steps: each into its slot as written (so a
//! repeated one is one error, whatever its value), then each value is checked.

use proc_macro2::TokenStream;
use syn::spanned::Spanned as _;
use syn::{Attribute, Expr, ImplItemFn, LitStr};

use super::attr::Attr;
use super::duration::{duration, duration_ms};
use super::{path_name, string_literal};
use crate::diag::Diagnostics;
use crate::model::{DEFAULT_KEY_POLL_MS, DEFAULT_POLL_MS, KeepAlive, Part, Stream, StreamMode};
use crate::template;

/// The arguments `#[sse(...)]` accepts, in the order errors list them.
const SSE_ARGS: [&str; 6] = ["poll", "key", "pg", "topic", "keep_alive", "retry"];

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
pub(super) fn is_sse(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "sse")
}

/// Removes every `#[sse(...)]` from a method and parses the first one.
pub(super) fn take_sse_attributes(
    attrs: &mut Vec<Attribute>,
    diag: &Diagnostics,
) -> Option<Stream> {
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

/// `poll = 5`, `key = "…"`, `pg = "…"`, `topic = "…"`, `keep_alive = "30s"`,
/// `retry = "2s"`.
fn sse_arguments(attr: &Attribute, diag: &Diagnostics) -> Stream {
    let mut poll = Attr::none(diag, "poll");
    let mut key = Attr::none(diag, "key");
    let mut pg = Attr::none(diag, "pg");
    let mut topic = Attr::none(diag, "topic");
    let mut keep_alive = Attr::none(diag, "keep_alive");
    let mut retry = Attr::none(diag, "retry");

    match &attr.meta {
        syn::Meta::List(_) => {
            let result = attr.parse_nested_meta(|meta| {
                let name = path_name(&meta.path);
                match name.as_str() {
                    "poll" => poll.set(&meta.path, meta.value()?.parse::<Expr>()?),
                    "keep_alive" => keep_alive.set(&meta.path, meta.value()?.parse::<Expr>()?),
                    "retry" => retry.set(&meta.path, meta.value()?.parse::<Expr>()?),
                    "key" | "pg" | "topic" => {
                        let value: Expr = meta.value()?.parse()?;
                        // The first source given wins; a second one is the error.
                        let first = [("key", &key), ("pg", &pg), ("topic", &topic)]
                            .into_iter()
                            .find_map(|(other, slot)| slot.is_set().then_some(other));
                        match first {
                            Some(other) if other != name => diag.error_at(
                                &meta.path,
                                format!(
                                    "`{other}` and `{name}` cannot be combined: a stream has one source"
                                ),
                            ),
                            _ => match name.as_str() {
                                "key" => key.set(&meta.path, value),
                                "pg" => pg.set(&meta.path, value),
                                _ => topic.set(&meta.path, value),
                            },
                        }
                    }
                    _ => return Err(meta.error(unknown_sse_argument(&name))),
                }
                Ok(())
            });
            if let Err(error) = result {
                diag.push(error);
            }
        }
        syn::Meta::NameValue(nv) => {
            diag.error_at(nv, "write `#[sse(poll = 5)]`, with parentheses");
        }
        // `#[sse]` alone: a poll stream with every default.
        syn::Meta::Path(_) => {}
    }

    let poll = poll
        .get_with_path()
        .map(|(path, value)| (path, duration(&value, diag)));
    let key = key
        .get()
        .map(|value| source_template("key", &value, template::parse, diag));
    let pg = pg.get_with_path().map(|(path, value)| {
        let channel = source_template("pg", &value, template::parse_channel, diag);
        (channel, path.span())
    });
    let topic = topic
        .get()
        .map(|value| source_template("topic", &value, template::parse, diag));
    let keep_alive = keep_alive
        .get()
        .map_or(KeepAlive::App, |value| keep_alive_value(&value, diag));
    let retry = retry.get().map(|value| duration(&value, diag));

    if let (Some(_), Some((poll_key, _))) = (&pg, &poll) {
        diag.error_at(
            poll_key,
            "`poll` has no meaning with `pg`: each notification is sent as it arrives; remove `poll`",
        );
    }
    if let (Some(_), Some((poll_key, _))) = (&topic, &poll) {
        diag.error_at(
            poll_key,
            "`poll` has no meaning with `topic`: each message is sent as it is published; remove `poll`",
        );
    }
    let poll = poll.map(|(_, ms)| ms);
    let mode = match (key, pg, topic) {
        (Some(template), _, _) => StreamMode::Key {
            template,
            every_ms: poll.unwrap_or(DEFAULT_KEY_POLL_MS),
        },
        (None, Some((template, pg_key)), _) => StreamMode::Pg { template, pg_key },
        (None, None, Some(template)) => StreamMode::Topic { template },
        (None, None, None) => StreamMode::Poll {
            every_ms: poll.unwrap_or(DEFAULT_POLL_MS),
        },
    };
    Stream {
        attr: quote::ToTokens::to_token_stream(attr),
        mode,
        keep_alive,
        retry_ms: retry,
    }
}

/// The template of `key = "…"` or `pg = "…"`. On error, empty (never
/// expanded): the mode is still known, so no poll-mode check adds a message.
fn source_template(
    name: &str,
    value: &Expr,
    parse: fn(&LitStr) -> syn::Result<Vec<Part>>,
    diag: &Diagnostics,
) -> Vec<Part> {
    let Some(lit) = string_literal(value) else {
        diag.error_at(
            value,
            format!("`{name}` takes a string, as in `{name} = \"user:<section>:updates\"`"),
        );
        return Vec::new();
    };
    parse(lit).unwrap_or_else(|error| {
        diag.push(error);
        Vec::new()
    })
}

/// A duration, or `"off"`.
fn keep_alive_value(value: &Expr, diag: &Diagnostics) -> KeepAlive {
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

fn unknown_sse_argument(name: &str) -> String {
    format!(
        "unknown `sse` argument `{name}`; expected one of {}",
        SSE_ARGS.map(|a| format!("`{a}`")).join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::super::impl_errors;

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
                "unknown `sse` argument `pol`; expected one of `poll`, `key`, `pg`, `topic`, `keep_alive`, `retry`"
            ]
        );
    }

    #[test]
    fn every_listed_argument_is_accepted() {
        for name in super::SSE_ARGS {
            let name = syn::Ident::new(name, proc_macro2::Span::call_site());
            let errors = impl_errors(syn::parse_quote! {
                impl Ticks {
                    #[sse(#name = "1s")]
                    fn get(&self) -> Option<String> { None }
                }
            });
            assert!(
                errors.iter().all(|e| !e.starts_with("unknown")),
                "{name}: {errors:?}"
            );
        }
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
    fn a_bad_template_is_one_error_not_a_poll_error_too() {
        for args in [
            quote::quote!(key = "user:<id>"),
            quote::quote!(key = user),
            quote::quote!(pg = ""),
            quote::quote!(topic = "job:<id>"),
            quote::quote!(topic = 5),
            quote::quote!(
                pg = "a_channel_name_far_longer_than_any_name_postgresql_keeps_whole_<slug>"
            ),
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
    fn durations_say_what_is_wrong() {
        let cases = [
            (quote::quote!(poll = 0), "greater than zero"),
            (quote::quote!(poll = -1), "cannot be negative"),
            (quote::quote!(poll = 2.5), "write \"2500ms\""),
            (quote::quote!(poll = "5 parsecs"), "unknown unit `parsecs`"),
            (quote::quote!(retry = "2"), "no unit"),
            (quote::quote!(keep_alive = "never"), "\"off\""),
            (quote::quote!(keep_alive = "0s"), "turns keep-alive off"),
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
        let cases: [(proc_macro2::TokenStream, &str); 6] = [
            (quote::quote!(poll = 5, poll = 6), "`poll` is given twice"),
            (
                quote::quote!(key = "a", pg = "b"),
                "`key` and `pg` cannot be combined: a stream has one source",
            ),
            (
                quote::quote!(pg = "b", poll = 5),
                "`poll` has no meaning with `pg`: each notification is sent as it arrives; remove `poll`",
            ),
            // The repeated one is to be removed: its value is not checked.
            (
                quote::quote!(retry = "1s", retry = -1),
                "`retry` is given twice",
            ),
            (
                quote::quote!(topic = "a", key = "b"),
                "`topic` and `key` cannot be combined: a stream has one source",
            ),
            (
                quote::quote!(topic = "a", poll = 5),
                "`poll` has no meaning with `topic`: each message is sent as it is published; remove `poll`",
            ),
        ];
        for (args, expected) in cases {
            let errors = impl_errors(syn::parse_quote! {
                impl Ticks {
                    #[sse(#args)]
                    fn get(&self) -> Option<String> { None }
                }
            });
            assert_eq!(errors, [expected], "{args}");
        }
    }
}
