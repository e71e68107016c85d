//! A bound on admin password checks running at once (argon2id takes 19 MiB each).

/// The admin password checks (argon2id, 19 MiB each) running at once, bounded; and the most
/// ever seen at once (memory is bounded by that times 19 MiB).
pub struct PasswordChecks {
    gate: tokio::sync::Semaphore,
    limit: usize,
    peak: std::sync::atomic::AtomicUsize,
}

impl PasswordChecks {
    pub fn new(limit: u32) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(1);
        Self {
            gate: tokio::sync::Semaphore::new(limit),
            limit,
            peak: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A permit now, or `None` when the limit is reached (the caller answers 429).
    pub(super) fn try_start(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let permit = self.gate.try_acquire().ok()?;
        let running = self.limit - self.gate.available_permits();
        self.peak
            .fetch_max(running, std::sync::atomic::Ordering::Relaxed);
        Some(permit)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}
