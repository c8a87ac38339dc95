use tiny::prelude::*;

#[controller]
pub struct Feed<T> {
    items: Vec<T>,
}

#[controller]
impl<T: Send + Sync + 'static> Feed<T> {
    fn get(&self) -> String {
        self.items.len().to_string()
    }
}

fn main() {}
