//! Panics as the `ippoc` binary shows them. A library that panics where it
//! should return an error (sled on some damaged files) is caught and turned
//! into one clear line by the caller; [`quietly`] keeps the panic's own
//! message off stderr meanwhile, so the operator reads one line, not two.

use std::cell::Cell;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs the binary's panic hook: the default one, except on a thread
/// inside [`quietly`].
pub fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            default(info);
        }
    }));
}

/// Runs `f` with this thread's panic messages held back (the caller catches
/// the panic and reports it).
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let before = QUIET.with(|q| q.replace(true));
    let out = f();
    QUIET.with(|q| q.set(before));
    out
}
