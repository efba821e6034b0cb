//! SIGINT and SIGTERM as one future: the loop's shutdown input.

use std::io;

use tokio::signal::unix::{SignalKind, signal};

/// Registers the handlers now (so a signal arriving before the loop waits is not lost) and
/// returns a future that completes on the first SIGINT or SIGTERM, naming it.
pub fn shutdown() -> io::Result<impl Future<Output = &'static str>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    })
}
