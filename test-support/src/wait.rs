//! Waiting by a deadline: a test asks again until the answer is there or the time is up, and
//! then fails saying what it waited for. No fixed sleeps, no counted rounds.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long between two questions.
const PAUSE: Duration = Duration::from_millis(25);

/// Asks `probe` until it returns `Some`, and returns that; panics after `within` with `what`
/// (what the test waited for). A probe that may succeed at once costs no wait.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}, in vain"
        );
        tokio::time::sleep(PAUSE).await;
    }
}

/// [`eventually`] for code outside an async runtime (a plain thread waiting for a process).
pub fn eventually_blocking<T>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}, in vain"
        );
        std::thread::sleep(PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_answer_and_fails_at_the_deadline() {
        let mut asked = 0;
        let v = eventually(Duration::from_secs(5), "the third question", || {
            asked += 1;
            let now = asked;
            async move { (now == 3).then_some(now) }
        })
        .await;
        assert_eq!(v, 3);
        let late = tokio::spawn(eventually(Duration::from_millis(60), "never", || async {
            None::<()>
        }))
        .await;
        let message = late.expect_err("the deadline fails the wait").into_panic();
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(message.contains("never"), "{message}");
    }
}
