//! `blockprint`: the command line arrives with the engine it drives.

fn main() {}
