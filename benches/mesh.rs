//! Mesh transport benchmark (issue 6): placeholder while the measurements are written.

fn main() {}
