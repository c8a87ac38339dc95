//! Controllers defined in a library crate, for `tests/library.rs`.

use tiny::prelude::*;

/// `GET /catalogue`, defined at the crate's root.
#[controller]
pub struct Catalogue;

#[controller]
impl Catalogue {
    fn get(&self) -> &'static str {
        "the catalogue, from a library crate"
    }
}

/// Controllers in a module of their own (a codegen unit of its own too).
pub mod orders {
    use tiny::prelude::*;

    /// `GET /orders/<section>`, a poll stream from a library crate.
    #[controller]
    pub struct Orders;

    #[controller]
    impl Orders {
        #[sse(poll = 60)]
        async fn get(&self, req: &Request) -> Option<String> {
            Some(format!("order {}", req.path().section))
        }
    }
}
