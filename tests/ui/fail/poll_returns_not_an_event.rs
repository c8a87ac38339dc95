use tiny::prelude::*;

pub struct Reading {
    pub celsius: f64,
}

#[controller]
pub struct Thermometer;

#[controller]
impl Thermometer {
    #[sse(poll = 5)]
    fn get(&self) -> Option<Reading> {
        Some(Reading { celsius: 21.5 })
    }
}

fn main() {}
