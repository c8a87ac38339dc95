use tiny::prelude::*;

pub struct Pool;

#[controller]
pub struct Reports {
    pool: Pool,
}

#[controller]
impl Reports {
    fn get(&self) -> &'static str {
        let _ = &self.pool;
        "reports"
    }
}

fn main() {}
