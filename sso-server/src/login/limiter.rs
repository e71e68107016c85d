//! Failed sign-in throttling: a sliding one-minute window of failures per key (the account name
//! typed, and the client address), on the injected clock. Counting by the name typed, whether or
//! not it exists, throttles alike for known and unknown users, so the answer reveals nothing.
//! Per instance, in memory: several instances multiply the allowance, which stays small.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;
/// Bound on tracked keys, so a flood of random names cannot grow memory without limit.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct FailureLimiter {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl FailureLimiter {
    /// Seconds until `key` may try again, when it has `limit` failures in the last minute.
    pub fn blocked_for(&self, key: &str, limit: u32, now_ms: i64) -> Option<u64> {
        let mut map = self.failures.lock().ok()?;
        let q = map.get_mut(key)?;
        while q.front().is_some_and(|t| *t <= now_ms - WINDOW_MS) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let oldest = q.front().copied().unwrap_or(now_ms);
            return Some(((oldest + WINDOW_MS - now_ms).max(1000) / 1000) as u64);
        }
        None
    }

    pub fn record_failure(&self, key: &str, now_ms: i64) {
        if let Ok(mut map) = self.failures.lock() {
            if map.len() >= MAX_KEYS && !map.contains_key(key) {
                map.retain(|_, q| q.back().is_some_and(|t| *t > now_ms - WINDOW_MS));
                if map.len() >= MAX_KEYS {
                    return;
                }
            }
            let q = map.entry(key.to_owned()).or_default();
            q.push_back(now_ms);
            while q.len() > 64 {
                q.pop_front();
            }
        }
    }

    pub fn clear(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_forgets_after_a_minute() {
        let l = FailureLimiter::default();
        for i in 0..3 {
            assert!(l.blocked_for("ada", 3, 1_000 + i).is_none());
            l.record_failure("ada", 1_000 + i);
        }
        assert_eq!(l.blocked_for("ada", 3, 2_000), Some(59));
        assert!(l.blocked_for("bob", 3, 2_000).is_none());
        assert!(l.blocked_for("ada", 3, 61_003).is_none());
    }
}
