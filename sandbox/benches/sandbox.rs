//! Sandbox benchmarks (filled in with the runtime).
fn main() {}
