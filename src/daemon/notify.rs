//! systemd's notify protocol (`Type=notify`): READY=1 once the store is recovered and the
//! sockets are bound, WATCHDOG=1 from the loop's own timer at half the `WatchdogSec=` interval
//! (so a stuck loop stops the kicks and systemd restarts the node, while an idle one keeps
//! kicking), and STOPPING=1 when a signal starts the shutdown. Outside systemd
//! (`NOTIFY_SOCKET` unset) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// The watchdog kick schedule and the notify socket's messages.
#[derive(Debug)]
pub struct Notifier {
    /// Half of `WATCHDOG_USEC`: kicking twice per interval tolerates one late turn.
    interval: Option<Duration>,
    next_kick: Option<tokio::time::Instant>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC` (and `WATCHDOG_PID`, which must name this process if set).
    #[must_use]
    pub fn from_env() -> Self {
        let interval = sd_notify::watchdog_enabled()
            .map(|d| d / 2)
            .filter(|d| !d.is_zero());
        Self {
            interval,
            next_kick: None,
        }
    }

    /// READY=1 with a one-line status.
    pub fn ready(&mut self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
        self.kick();
    }

    /// STOPPING=1.
    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }

    /// When the next WATCHDOG=1 is due; `None` without a watchdog.
    #[must_use]
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.next_kick
    }

    /// Sends WATCHDOG=1 and schedules the next one.
    pub fn kick(&mut self) {
        if let Some(interval) = self.interval {
            send(&[NotifyState::Watchdog]);
            self.next_kick = Some(tokio::time::Instant::now() + interval);
        }
    }
}

fn send(states: &[NotifyState<'_>]) {
    // A lost notification is systemd's to time out on; there is nothing better to do here.
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify: {e}");
    }
}
