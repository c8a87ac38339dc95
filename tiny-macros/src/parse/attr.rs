//! The slot one attribute argument is read into, as serde_derive's
//! `internals::attr::Attr`: it keeps the first value given and where it was
//! written, and reports a repeated argument at its second occurrence.

use crate::diag::Diagnostics;

/// One named argument of an attribute (`poll = 5`), given at most once.
pub(super) struct Attr<'a, T> {
    diag: &'a Diagnostics,
    name: &'static str,
    value: Option<(syn::Path, T)>,
}

impl<'a, T> Attr<'a, T> {
    /// An argument not given (yet); `name` is how errors call it.
    pub(super) fn none(diag: &'a Diagnostics, name: &'static str) -> Self {
        Attr {
            diag,
            name,
            value: None,
        }
    }

    /// Records `value`, written after `path`. A second occurrence is reported
    /// at its own `path` and its value dropped unchecked: the fix is to remove
    /// it, so what it says does not matter.
    pub(super) fn set(&mut self, path: &syn::Path, value: T) {
        if self.value.is_some() {
            self.diag
                .error_at(path, format!("`{}` is given twice", self.name));
        } else {
            self.value = Some((path.clone(), value));
        }
    }

    pub(super) fn is_set(&self) -> bool {
        self.value.is_some()
    }

    pub(super) fn get(self) -> Option<T> {
        self.value.map(|(_, value)| value)
    }

    /// The value and the argument's name as written, for errors that point
    /// at the argument rather than at its value.
    pub(super) fn get_with_path(self) -> Option<(syn::Path, T)> {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_is_kept_and_the_second_reported() {
        let diag = Diagnostics::default();
        let mut poll = Attr::none(&diag, "poll");
        assert!(!poll.is_set());
        poll.set(&syn::parse_quote!(poll), 5);
        poll.set(&syn::parse_quote!(poll), 6);
        assert!(poll.is_set());
        assert_eq!(poll.get(), Some(5));
        assert_eq!(diag.messages(), ["`poll` is given twice"]);
    }
}
