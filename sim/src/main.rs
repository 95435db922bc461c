//! The `locksim` binary; see `locksim --help` and the crate docs.

fn main() {
    std::process::exit(locksim::cli::main());
}
