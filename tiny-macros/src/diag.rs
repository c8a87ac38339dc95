//! Collects every problem of one macro input, so a user sees them all at once
//! (serde's `Ctxt`): each is a `syn::Error` at the offending token.
//!
//! Shared by `&` reference, as serde's `Ctxt` is, so the argument slots of an
//! attribute (`parse::attr::Attr`) can each hold it while the
//! `parse_nested_meta` closure that fills them reports through it too.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::{Span, TokenStream};

#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: RefCell<Option<syn::Error>>,
}

impl Diagnostics {
    pub(crate) fn error(&self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn error_at(&self, tokens: impl quote::ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn push(&self, error: syn::Error) {
        let mut errors = self.errors.borrow_mut();
        match &mut *errors {
            Some(errors) => errors.combine(error),
            None => *errors = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.borrow().is_none()
    }

    /// Every collected message, in order.
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.errors
            .borrow()
            .iter()
            .flat_map(|errors| errors.clone().into_iter().map(|e| e.to_string()))
            .collect()
    }

    /// The `compile_error!`s of every collected problem (empty when none).
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .borrow()
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}
