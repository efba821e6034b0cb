//! A small stderr logger. Under systemd (stderr is the journal, `JOURNAL_STREAM` is set) each
//! line starts with its syslog priority, `<3>` … `<7>`, which journald turns into the entry's
//! level; elsewhere lines start with the level name. `-d` raises the level from info to debug
//! (and that of libraries from warn to info).

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    journald: bool,
}

/// Libraries (fjall's recovery notes, …) log one level less than we do: their info lines are
/// our debug lines.
fn level_for(target: &str) -> LevelFilter {
    let ours = target == "nostrp2p" || target.starts_with("nostrp2p::");
    match (ours, log::max_level()) {
        (true, max) => max,
        (false, LevelFilter::Debug | LevelFilter::Trace) => LevelFilter::Info,
        (false, _) => LevelFilter::Warn,
    }
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= level_for(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut err = std::io::stderr().lock();
        // A failed write to stderr has nowhere to be reported: drop it.
        let _ = if self.journald {
            let priority = match record.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                Level::Debug | Level::Trace => 7,
            };
            writeln!(err, "<{priority}>{}", record.args())
        } else {
            writeln!(
                err,
                "{}: {}",
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            )
        };
    }

    fn flush(&self) {}
}

/// Installs the logger once; later calls only change the level.
pub fn init(debug: bool, journald: bool) {
    static JOURNALD: StderrLogger = StderrLogger { journald: true };
    static PLAIN: StderrLogger = StderrLogger { journald: false };
    let _ = log::set_logger(if journald { &JOURNALD } else { &PLAIN });
    log::set_max_level(if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_log_one_level_below_us() {
        log::set_max_level(LevelFilter::Info);
        assert_eq!(level_for("nostrp2p::daemon::run"), LevelFilter::Info);
        assert_eq!(level_for("nostrp2p"), LevelFilter::Info);
        assert_eq!(level_for("fjall::db"), LevelFilter::Warn);
        assert_eq!(
            level_for("nostrp2pish"),
            LevelFilter::Warn,
            "a prefix is not our crate"
        );
        log::set_max_level(LevelFilter::Debug);
        assert_eq!(level_for("fjall::db"), LevelFilter::Info);
        assert_eq!(level_for("nostrp2p::store"), LevelFilter::Debug);
    }
}
