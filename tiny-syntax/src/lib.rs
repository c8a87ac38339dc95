//! The small grammars that `tiny`'s macros check at compile time and its
//! runtime checks again at run time: key and channel templates
//! (`"user:<section>:updates"`) and durations (`"250ms"`, `"2s"`, `5`).
//!
//! One implementation serves both, so `#[sse(key = "…")]` and
//! `tiny::sse::Template::parse` can never disagree on what a template is.
//! This crate has no dependencies and no public API of its own: use it
//! through `tiny`.

#![deny(missing_docs)]

pub mod duration;
pub mod template;
