//! Faults injected into an emulated key, for failure-injection tests.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::KeyError;

/// A fault to inject into an [`EmulatedKey`](super::EmulatedKey). Each fires once, on the next
/// call of its kind that reaches the key (calls refused because the key is offline do not consume
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next write fails with [`KeyError::Transport`] and is not applied.
    FailNextWrite,
    /// The next write is applied, but the caller gets [`KeyError::Transport`], as if the
    /// acknowledgement were lost on the way back.
    LoseNextWriteAck,
    /// The next read fails with [`KeyError::Transport`].
    FailNextRead,
    /// The next delete fails with [`KeyError::Transport`] and is not applied.
    FailNextDelete,
    /// The next link fails with [`KeyError::Transport`] and is not applied.
    FailNextLink,
    /// The next wipe fails with [`KeyError::Transport`] and is not applied.
    FailNextWipe,
}

#[derive(Debug, Default)]
struct Faults {
    offline: bool,
    pending: Vec<Fault>,
}

/// Controls the faults of one [`EmulatedKey`](super::EmulatedKey); cheap to clone, usable from
/// any thread.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle(Arc<Mutex<Faults>>);

impl FaultHandle {
    fn lock(&self) -> MutexGuard<'_, Faults> {
        // The data is two plain fields: a panic elsewhere cannot leave it inconsistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offline, every call fails with [`KeyError::NotConnected`] until this is set back to false.
    pub fn set_offline(&self, offline: bool) {
        self.lock().offline = offline;
    }

    pub fn is_offline(&self) -> bool {
        self.lock().offline
    }

    /// Queues a one-shot fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().pending.push(fault);
    }

    /// Shorthand for `inject(Fault::FailNextWrite)`.
    pub fn fail_next_write(&self) {
        self.inject(Fault::FailNextWrite);
    }

    /// Brings the key back online and drops every pending fault.
    pub fn clear(&self) {
        let mut faults = self.lock();
        faults.offline = false;
        faults.pending.clear();
    }

    pub(super) fn ensure_online(&self) -> Result<(), KeyError> {
        if self.lock().offline {
            Err(KeyError::NotConnected)
        } else {
            Ok(())
        }
    }

    /// Removes `fault` from the queue if it is there; tells whether it was.
    pub(super) fn take(&self, fault: Fault) -> bool {
        let mut faults = self.lock();
        match faults.pending.iter().position(|f| *f == fault) {
            Some(i) => {
                faults.pending.remove(i);
                true
            }
            None => false,
        }
    }
}

pub(super) fn injected(what: &str) -> KeyError {
    KeyError::Transport(format!("injected fault: {what}"))
}
