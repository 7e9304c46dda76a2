//! sd_notify, for systemd (and Podman's `Notify=true`): `READY=1` once the socket is
//! served, so `systemctl start` returns only when requests will be answered, and
//! `STOPPING=1` when a stop begins. Without `NOTIFY_SOCKET` these do nothing.

use sd_notify::NotifyState;

use crate::log;

pub fn ready() {
    send(&[NotifyState::Ready], "READY=1");
}

pub fn stopping() {
    send(&[NotifyState::Stopping], "STOPPING=1");
}

fn send(state: &[NotifyState], what: &str) {
    // Not unsetting NOTIFY_SOCKET: STOPPING=1 is sent later through the same variable.
    if let Err(e) = sd_notify::notify(false, state) {
        log::line(&format!("could not send {} to the service manager: {}", what, e));
    }
}
