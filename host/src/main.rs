//! The `stepscale` binary.
fn main() {}
