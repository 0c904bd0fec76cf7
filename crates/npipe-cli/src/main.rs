//! npipe CLI
fn main() {}
