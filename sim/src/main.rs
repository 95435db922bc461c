//! The `locksim` binary; see `locksim --help` and the crate docs.

fn main() {
    // `locksim run ... | head` closes stdout early: end quietly, as a Unix
    // tool killed by SIGPIPE would (status 141), instead of panicking.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    std::process::exit(locksim::cli::main());
}
