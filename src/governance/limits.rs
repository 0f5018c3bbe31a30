//! Rate limits, in two layers, and a cap on agent turns running at once in
//! this process:
//!
//! - [`RateLimits`] (governor): a token bucket per person and one per channel
//!   in this process — `n` per minute means a burst of `n`, refilled one every
//!   `60/n` s. It answers without IO, so a burst is refused before it costs a
//!   store round trip.
//! - [`SharedWindows`]: what the buckets let through is counted in the shared
//!   store, in fixed one-minute windows (key = scope, id and the minute), so
//!   `n` per minute holds for the fleet, not per replica. A store failure
//!   admits (logged): the local bucket still holds, as it did before replicas
//!   shared anything.
//! - [`SharedWindows::first_refusal`]: a refused person (or channel) is told
//!   once per window; the rest of that window's refusals are quiet. The first
//!   is decided in the shared store too (one notice for the fleet), and in
//!   this process when the store fails.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::LimitRepo;

/// Which bucket ran dry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitScope {
    User,
    Channel,
}

impl LimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::User => "user",
            LimitScope::Channel => "channel",
        }
    }
}

type Buckets<C> =
    RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-person and per-channel buckets on clock `C` (tests use a fake clock).
pub struct RateLimits<C: Clock = DefaultClock> {
    per_user: Buckets<C>,
    per_channel: Buckets<C>,
    clock: C,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least 1"))
}

impl RateLimits<DefaultClock> {
    pub fn new(user_per_minute: u32, channel_per_minute: u32) -> Self {
        Self::with_clock(user_per_minute, channel_per_minute, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    pub fn with_clock(user_per_minute: u32, channel_per_minute: u32, clock: C) -> Self {
        Self {
            per_user: RateLimiter::dashmap_with_clock(per_minute(user_per_minute), clock.clone()),
            per_channel: RateLimiter::dashmap_with_clock(
                per_minute(channel_per_minute),
                clock.clone(),
            ),
            clock,
        }
    }

    /// Take one message from `subject`'s and `channel`'s buckets, or say
    /// which is empty and when it has a token again. A message refused by the
    /// channel bucket still spent the person's token (it was sent).
    pub fn check(&self, subject: &str, channel: &str) -> Result<(), (LimitScope, Duration)> {
        let now = self.clock.now();
        self.per_user
            .check_key(&subject.to_string())
            .map_err(|not_until| (LimitScope::User, not_until.wait_time_from(now)))?;
        self.per_channel
            .check_key(&channel.to_string())
            .map_err(|not_until| (LimitScope::Channel, not_until.wait_time_from(now)))
    }

    /// Forget buckets that are full again (bounded memory).
    pub fn shrink(&self) {
        self.per_user.retain_recent();
        self.per_channel.retain_recent();
    }
}

/// The one-minute window `now` falls in, and how long until it ends.
fn window(now: DateTime<Utc>) -> (i64, Duration) {
    let minute = now.timestamp().div_euclid(60);
    let into = now.timestamp_millis().rem_euclid(60_000);
    let left = u64::try_from(60_000 - into).unwrap_or(60_000);
    (minute, Duration::from_millis(left))
}

/// Windows remembered in this process before old ones are forgotten.
const LOCAL_NOTICES: usize = 10_000;

/// Per-minute counts every replica shares (see the module doc).
pub struct SharedWindows {
    repo: Arc<dyn LimitRepo>,
    /// (scope, id) → the window this process last told it about.
    told: Mutex<HashMap<(LimitScope, String), i64>>,
}

impl SharedWindows {
    pub fn new(repo: Arc<dyn LimitRepo>) -> Self {
        Self {
            repo,
            told: Mutex::default(),
        }
    }

    /// Count one message of `scope`'s `id` in the window of `now`. Past
    /// `per_minute` in that window, refused with the time until the next
    /// window. A store failure admits.
    pub async fn check(
        &self,
        scope: LimitScope,
        id: &str,
        per_minute: u32,
        now: DateTime<Utc>,
    ) -> Result<(), Duration> {
        let (minute, left) = window(now);
        let key = format!("rate:{}:{id}:{minute}", scope.as_str());
        match self
            .repo
            .count_hit(&key, now, chrono::Duration::minutes(2))
            .await
        {
            Ok(n) if n > u64::from(per_minute) => Err(left),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, scope = scope.as_str(),
                    "shared rate limit not counted (store unavailable); this replica's buckets still apply");
                Ok(())
            }
        }
    }

    /// Whether a refusal of `scope`'s `id` at `now` is the first of its
    /// window: the one the person (or channel) is told about.
    pub async fn first_refusal(&self, scope: LimitScope, id: &str, now: DateTime<Utc>) -> bool {
        let (minute, _) = window(now);
        let local = (scope, id.to_string());
        {
            let told = self.told.lock().unwrap_or_else(|p| p.into_inner());
            if told.get(&local) == Some(&minute) {
                return false;
            }
        }
        let key = format!("notice:{}:{id}:{minute}", scope.as_str());
        let first = match self
            .repo
            .count_hit(&key, now, chrono::Duration::minutes(2))
            .await
        {
            Ok(n) => n == 1,
            Err(e) => {
                tracing::warn!(error = %e, "refusal notices counted in this process only (store unavailable)");
                true
            }
        };
        let mut told = self.told.lock().unwrap_or_else(|p| p.into_inner());
        if told.len() >= LOCAL_NOTICES {
            told.retain(|_, w| *w >= minute);
        }
        told.insert(local, minute);
        first
    }
}

/// At most `n` turns at once; a turn waits up to `wait` for a slot.
#[derive(Clone)]
pub struct TurnSlots {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl TurnSlots {
    pub fn new(n: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(n)),
            wait,
        }
    }

    /// A slot, held until the permit is dropped; `None` when none freed up in time.
    pub async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_person_hits_the_limit_and_recovers_as_the_bucket_refills() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_clock(3, 100, clock.clone());
        for _ in 0..3 {
            limits.check("slack:T1/U1", "slack:C1").unwrap();
        }
        let (scope, wait) = limits.check("slack:T1/U1", "slack:C1").unwrap_err();
        assert_eq!(scope, LimitScope::User);
        assert_eq!(wait, Duration::from_secs(20), "3 a minute: one every 20 s");
        // Someone else in the same channel is not affected.
        limits.check("slack:T1/U2", "slack:C1").unwrap();
        clock.advance(Duration::from_secs(19));
        let (_, wait) = limits.check("slack:T1/U1", "slack:C1").unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        clock.advance(Duration::from_secs(1));
        limits.check("slack:T1/U1", "slack:C1").unwrap();
        assert!(
            limits.check("slack:T1/U1", "slack:C1").is_err(),
            "one token, not a burst"
        );
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            limits.check("slack:T1/U1", "slack:C1").unwrap();
        }
    }

    #[test]
    fn a_busy_channel_is_limited_for_everyone_in_it() {
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_clock(100, 2, clock.clone());
        limits.check("slack:T1/U1", "slack:C1").unwrap();
        limits.check("slack:T1/U2", "slack:C1").unwrap();
        let (scope, wait) = limits.check("slack:T1/U3", "slack:C1").unwrap_err();
        assert_eq!(
            (scope, wait),
            (LimitScope::Channel, Duration::from_secs(30))
        );
        limits.check("slack:T1/U3", "slack:C2").unwrap();
        clock.advance(Duration::from_secs(30));
        limits.check("slack:T1/U3", "slack:C1").unwrap();
    }

    #[tokio::test]
    async fn turns_beyond_the_cap_wait_then_are_refused() {
        let slots = TurnSlots::new(1, Duration::from_millis(50));
        let held = slots.acquire().await.unwrap();
        assert!(slots.acquire().await.is_none());
        drop(held);
        assert!(slots.acquire().await.is_some());
    }
}
