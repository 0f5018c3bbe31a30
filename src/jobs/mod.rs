//! Durable background work: what the bot promised to do later lives in the
//! store as jobs, never only in memory.
//!
//! - [`worker::Worker`]: claims due jobs from its queues with a lease, runs them, and
//!   settles them (done, snoozed, retried with backoff, dead). A worker that
//!   dies leaves its lease to expire; another claims the job. A worker that
//!   lost its lease cannot settle the job.
//! - Kinds: `deliver` ([`outbox`]; the admins' fleet-cap alerts are
//!   messages of it, [`alerts`]), `watch_backtest` ([`watch`]), `digest`
//!   ([`digest`]), `approval_expiry` ([`approval_expiry`]), enqueued by the
//!   trigger tool, the [`scheduler`], the chat gates and the jobs themselves.
//! - Queues: a job posting to a chat platform sits in that platform's queue
//!   (`slack`, `discord`, `console`), claimed only by processes that can post
//!   there; digests sit in `digest`, claimed by `chatops serve`.
//!
//! Replicas share everything through the store: job claims are atomic, job
//! keys are unique (a second enqueue of the same key is a no-op), schedule
//! cursors move by compare-and-set.

pub mod alerts;
pub mod approval_expiry;
pub mod digest;
pub mod outbox;
pub mod schedule;
pub mod scheduler;
pub mod watch;
pub mod worker;

use std::time::Duration;

/// Exponential backoff after `attempts` failed runs: 2 s, 4 s, 8 s… capped
/// at 5 minutes, with up to 25 % jitter so replicas don't retry in step.
pub fn backoff(attempts: u32) -> Duration {
    let base = Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 9))).min(MAX_BACKOFF);
    let jitter = base.mul_f64(f64::from(uuid::Uuid::new_v4().as_u128() as u16) / 65_535.0 / 4.0);
    base + jitter
}

const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How long a delivery waits before its next try: the backoff, or longer
/// when the chat service asked for it (`Retry-After`) — but never more than
/// [`MAX_RETRY_AFTER`], since the header is the server's word, not ours (a
/// huge one would overflow the retry's time and bury the message).
pub fn retry_wait(attempts: u32, asked: Option<Duration>) -> Duration {
    backoff(attempts).max(asked.unwrap_or_default().min(MAX_RETRY_AFTER))
}

pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// When a claimed job's run must end: 90 % into its lease (`lease_until`
/// less a tenth of `lease`), so the worker settles it before anyone else may
/// claim it. The worker stops the run there; a handler that waits on
/// something (an outbox part's send) bounds the wait by it.
pub fn run_deadline(
    job: &crate::store::Job,
    lease: chrono::Duration,
) -> chrono::DateTime<chrono::Utc> {
    let until = job.lease_until.unwrap_or_else(crate::clock::now);
    until - lease / 10
}

/// True once stop was signalled (or its sender is gone).
pub fn stop_requested(stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(1);
        assert!(first >= Duration::from_secs(2) && first <= Duration::from_millis(2500));
        let fourth = backoff(4);
        assert!(fourth >= Duration::from_secs(16) && fourth <= Duration::from_secs(20));
        let late = backoff(30);
        assert!(late >= MAX_BACKOFF && late <= MAX_BACKOFF.mul_f64(1.25));
    }

    #[test]
    fn a_retry_after_is_honoured_up_to_an_hour() {
        assert_eq!(
            retry_wait(1, Some(Duration::from_secs(90))),
            Duration::from_secs(90)
        );
        // Slack's header is a u64 of seconds: the largest is an hour here,
        // and the retry's time is then computable.
        let huge = retry_wait(1, Some(Duration::from_secs(u64::MAX)));
        assert_eq!(huge, MAX_RETRY_AFTER);
        let now = chrono::Utc::now();
        assert!(
            now.checked_add_signed(chrono::Duration::from_std(huge).unwrap())
                .is_some()
        );
        assert!(retry_wait(1, None) <= Duration::from_millis(2500));
    }
}
