//! The typed model a macro input is parsed into; expansion reads only this.

use proc_macro2::Span;
use syn::{Ident, Type};

/// `#[controller]` on a struct.
pub(crate) struct ControllerStruct {
    pub(crate) ident: Ident,
    pub(crate) path: String,
    pub(crate) build: Build,
}

/// How the one instance of a controller is made.
pub(crate) enum Build {
    /// `struct Heartbeat;`: the value is its name.
    Unit,
    /// Any other struct: through `Default`, checked with a hint.
    Default,
}

/// `#[controller]` on an impl block.
pub(crate) struct ControllerImpl {
    pub(crate) self_ty: Type,
    pub(crate) methods: Vec<VerbMethod>,
}

/// The HTTP verbs, named as the runtime's `Verb` variants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Verb {
    /// Method names that are verbs, in the order errors list them.
    pub(crate) const NAMES: [(&'static str, Verb); 6] = [
        ("get", Verb::Get),
        ("post", Verb::Post),
        ("put", Verb::Put),
        ("patch", Verb::Patch),
        ("delete", Verb::Delete),
        ("options", Verb::Options),
    ];

    pub(crate) fn from_name(name: &str) -> Option<Verb> {
        Self::NAMES
            .iter()
            .find_map(|&(n, verb)| (n == name).then_some(verb))
    }

    pub(crate) fn variant(self) -> &'static str {
        match self {
            Verb::Get => "Get",
            Verb::Post => "Post",
            Verb::Put => "Put",
            Verb::Patch => "Patch",
            Verb::Delete => "Delete",
            Verb::Options => "Options",
        }
    }
}

/// How a verb method receives the request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestArg {
    Borrowed,
    Owned,
}

/// One argument of a verb method after `&self`.
pub(crate) enum Arg {
    /// `&Request` or `Request`.
    Request(RequestArg),
    /// An axum extractor: from the request's head (`FromRequestParts`), or,
    /// as the last argument, from the whole request (`FromRequest`: a body).
    Extract {
        ty: Box<syn::Type>,
        last: bool,
        /// `T` when the type is written `State<T>`: checked at start.
        state: Option<Box<syn::Type>>,
    },
}

/// One verb method of a controller impl.
pub(crate) struct VerbMethod {
    pub(crate) verb: Verb,
    pub(crate) ident: Ident,
    pub(crate) is_async: bool,
    pub(crate) args: Vec<Arg>,
    /// Where errors about what the method returns should point.
    pub(crate) output_span: Span,
    pub(crate) stream: Option<Stream>,
}

/// What `#[sse(...)]` asks for.
pub(crate) struct Stream {
    /// The `#[sse(...)]` attribute, for errors about where it is.
    pub(crate) attr: proc_macro2::TokenStream,
    pub(crate) mode: StreamMode,
    pub(crate) keep_alive: KeepAlive,
    pub(crate) retry_ms: Option<u64>,
}

/// `keep_alive = …`, as the runtime's `tiny::sse::KeepAlive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepAlive {
    /// Not given: the app's period.
    App,
    /// `keep_alive = "30s"`, in milliseconds.
    Every(u64),
    /// `keep_alive = "off"`.
    Off,
}

pub(crate) enum StreamMode {
    /// The method is the producer, called every `every_ms`.
    Poll { every_ms: u64 },
    /// The method is a guard; messages come from the key's queue.
    Key { template: Vec<Part>, every_ms: u64 },
    /// The method is a guard; frames come from NOTIFY on the channel.
    /// `pg_key` is where `pg` is written: a missing `postgres` feature is
    /// reported there.
    Pg { template: Vec<Part>, pg_key: Span },
    /// The method is a guard; frames are the messages published to the
    /// topic after the stream subscribed (or after its client's cursor).
    Topic { template: Vec<Part> },
}

/// Default poll period, as `stream()` in the PHP original.
pub(crate) const DEFAULT_POLL_MS: u64 = 10_000;
/// Default fallback re-check period of a key stream, as `streamKey()`.
pub(crate) const DEFAULT_KEY_POLL_MS: u64 = 1_000;

/// A piece of a key or channel template.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(String),
    Controller,
    Section,
    Slug,
}
