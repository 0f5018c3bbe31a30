//! Slack's Web API rate limits, kept in one place: every call [`SlackWeb`]
//! makes asks [`SlackThrottle`] first, and tells it about every 429.
//!
//! What it holds to, as Slack states it (docs.slack.dev, "Rate limits" and
//! the method pages):
//!
//! - **chat.postMessage**: about one message per second *per channel*, short
//!   bursts allowed — a governor bucket per channel (keyed), a burst of
//!   [`CHANNEL_BURST`] refilled one a second. Channels never wait on each
//!   other. Idle channels' buckets are dropped (`retain_recent`) every
//!   [`SWEEP_EVERY`] posts, so memory follows the channels in use.
//!   Slack's unpublished workspace-wide cap on the method is left to its 429s.
//! - **Every other method**: its tier, per method (one bot token is one
//!   workspace): `n` per minute as a burst of `n` refilled one every `60/n`
//!   s — see [`SlackMethod::per_minute`].
//! - **HTTP 429**: its `Retry-After` (1 s when absent, at most
//!   [`MAX_PAUSE`]) pauses what was limited — the channel for
//!   chat.postMessage, the method otherwise — and the next call there waits
//!   it out, whichever path makes it.
//!
//! Answers and approval messages wait their turn ([`SlackThrottle::wait`]);
//! reactions are decoration and are skipped rather than kept waiting
//! ([`SlackThrottle::try_now`]). Time is tokio's clock, so tests run it
//! paused.
//!
//! [`SlackWeb`]: super::web::SlackWeb

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// Posts a channel may make at once before the one-a-second pace applies.
pub const CHANNEL_BURST: u32 = 3;
/// The longest a 429 pauses anything (a Retry-After beyond it is cut).
pub const MAX_PAUSE: Duration = Duration::from_secs(60);
/// Idle channels' buckets are dropped once per this many posts.
pub const SWEEP_EVERY: u64 = 1024;

/// The Web API methods the bot calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlackMethod {
    PostMessage,
    Update,
    ReactionsAdd,
    ReactionsRemove,
    UserGroupsList,
    AuthTest,
}

impl SlackMethod {
    const ALL: [SlackMethod; 6] = [
        SlackMethod::PostMessage,
        SlackMethod::Update,
        SlackMethod::ReactionsAdd,
        SlackMethod::ReactionsRemove,
        SlackMethod::UserGroupsList,
        SlackMethod::AuthTest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SlackMethod::PostMessage => "chat.postMessage",
            SlackMethod::Update => "chat.update",
            SlackMethod::ReactionsAdd => "reactions.add",
            SlackMethod::ReactionsRemove => "reactions.remove",
            SlackMethod::UserGroupsList => "usergroups.list",
            SlackMethod::AuthTest => "auth.test",
        }
    }

    /// The method's workspace-wide limit (its tier's floor: Tier 2 "20+",
    /// Tier 3 "50+", Tier 4 "100+" per minute); `None` for chat.postMessage,
    /// which is limited per channel instead.
    pub fn per_minute(self) -> Option<u32> {
        match self {
            SlackMethod::PostMessage => None,
            SlackMethod::Update | SlackMethod::ReactionsAdd => Some(50), // Tier 3
            SlackMethod::ReactionsRemove | SlackMethod::UserGroupsList => Some(20), // Tier 2
            SlackMethod::AuthTest => Some(100), // "special"; at least Tier 4's pace
        }
    }
}

/// governor's clock on tokio's time (paused in tests).
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.start.elapsed())
    }
}

type PerChannel =
    RateLimiter<String, DefaultKeyedStateStore<String>, TokioClock, NoOpMiddleware<Nanos>>;
type PerMethod = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// What a 429 paused: one channel's posts, or one method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Paused {
    Channel(String),
    Method(SlackMethod),
}

impl Paused {
    fn of(method: SlackMethod, channel: &str) -> Self {
        match method {
            SlackMethod::PostMessage => Paused::Channel(channel.to_string()),
            other => Paused::Method(other),
        }
    }
}

/// Slack's limits for one bot token; see the module documentation.
pub struct SlackThrottle {
    clock: TokioClock,
    per_channel: PerChannel,
    per_method: HashMap<SlackMethod, PerMethod>,
    paused: Mutex<HashMap<Paused, Instant>>,
    posts: AtomicU64,
}

impl Default for SlackThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl SlackThrottle {
    pub fn new() -> Self {
        let clock = TokioClock {
            start: Instant::now(),
        };
        let burst = NonZeroU32::new(CHANNEL_BURST).unwrap_or(NonZeroU32::MIN);
        let per_channel = RateLimiter::dashmap_with_clock(
            Quota::per_second(NonZeroU32::MIN).allow_burst(burst),
            clock,
        );
        let per_method = SlackMethod::ALL
            .into_iter()
            .filter_map(|m| {
                let n = NonZeroU32::new(m.per_minute()?)?;
                Some((
                    m,
                    RateLimiter::direct_with_clock(Quota::per_minute(n), clock),
                ))
            })
            .collect();
        Self {
            clock,
            per_channel,
            per_method,
            paused: Mutex::default(),
            posts: AtomicU64::new(0),
        }
    }

    /// Wait until `method` may be called (for chat.postMessage: in `channel`).
    pub async fn wait(&self, method: SlackMethod, channel: &str) {
        loop {
            match self.ready_in(method, channel) {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Whether `method` may be called now (and counts the call if so):
    /// for what is not worth waiting for.
    pub fn try_now(&self, method: SlackMethod, channel: &str) -> bool {
        self.ready_in(method, channel).is_none()
    }

    /// Slack answered 429: pause what it limited for `retry_after` (1 s when
    /// Slack did not say, at most [`MAX_PAUSE`]).
    pub fn rate_limited(&self, method: SlackMethod, channel: &str, retry_after: Option<Duration>) {
        let pause = retry_after.unwrap_or(Duration::from_secs(1)).min(MAX_PAUSE);
        let now = Instant::now();
        let until = now + pause;
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        paused.retain(|_, t| *t > now);
        let entry = paused.entry(Paused::of(method, channel)).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Channels whose post buckets are held (for tests of the memory bound).
    pub fn channels_held(&self) -> usize {
        self.per_channel.len()
    }

    /// `None` when the call may go now (and it is counted); otherwise how
    /// long until it might.
    fn ready_in(&self, method: SlackMethod, channel: &str) -> Option<Duration> {
        if let Some(wait) = self.pause_left(method, channel) {
            return Some(wait);
        }
        let now = self.clock.now();
        let refused = match method {
            SlackMethod::PostMessage => {
                let key = channel.to_string();
                let checked = self.per_channel.check_key(&key);
                if checked.is_ok() {
                    self.sweep_now_and_then();
                }
                checked.err()
            }
            other => self.per_method.get(&other)?.check().err(),
        };
        refused.map(|not_until| {
            // At least a millisecond, so a waiter never spins.
            not_until.wait_time_from(now).max(Duration::from_millis(1))
        })
    }

    fn pause_left(&self, method: SlackMethod, channel: &str) -> Option<Duration> {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_empty() {
            return None;
        }
        let until = *paused.get(&Paused::of(method, channel))?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    fn sweep_now_and_then(&self) {
        let n = self.posts.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if n.is_multiple_of(SWEEP_EVERY) {
            self.per_channel.retain_recent();
            self.per_channel.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elapsed_since(t0: Instant) -> Duration {
        Instant::now().duration_since(t0)
    }

    #[tokio::test(start_paused = true)]
    async fn channels_do_not_wait_on_each_other() {
        let throttle = SlackThrottle::new();
        let t0 = Instant::now();
        // Each channel's burst, in 200 channels: nobody waits.
        for round in 0..CHANNEL_BURST {
            for c in 0..200 {
                throttle
                    .wait(SlackMethod::PostMessage, &format!("C{c}"))
                    .await;
            }
            assert_eq!(elapsed_since(t0), Duration::ZERO, "round {round}");
        }
        // One channel out of its burst does not hold up a fresh one.
        assert!(!throttle.try_now(SlackMethod::PostMessage, "C0"));
        throttle.wait(SlackMethod::PostMessage, "CNEW").await;
        assert_eq!(elapsed_since(t0), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn one_channel_gets_its_burst_then_one_post_a_second() {
        let throttle = SlackThrottle::new();
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..CHANNEL_BURST + 3 {
            throttle.wait(SlackMethod::PostMessage, "C1").await;
            at.push(elapsed_since(t0));
        }
        let burst = CHANNEL_BURST as usize;
        assert!(at[..burst].iter().all(|t| t.is_zero()), "{at:?}");
        for (i, t) in at[burst..].iter().enumerate() {
            let expected = Duration::from_secs(i as u64 + 1);
            assert!(
                *t >= expected && *t < expected + Duration::from_millis(50),
                "post {} at {t:?}, expected ~{expected:?}: {at:?}",
                burst + i
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_that_channel_for_its_retry_after_and_no_other() {
        let throttle = SlackThrottle::new();
        let t0 = Instant::now();
        throttle.wait(SlackMethod::PostMessage, "CA").await;
        throttle.rate_limited(SlackMethod::PostMessage, "CA", Some(Duration::from_secs(7)));
        // Other channels, and other methods in that channel, go at once.
        throttle.wait(SlackMethod::PostMessage, "CB").await;
        throttle.wait(SlackMethod::Update, "CA").await;
        assert_eq!(elapsed_since(t0), Duration::ZERO);
        assert!(!throttle.try_now(SlackMethod::PostMessage, "CA"));
        // The next post to CA, by any path, waits out Retry-After.
        throttle.wait(SlackMethod::PostMessage, "CA").await;
        assert_eq!(elapsed_since(t0), Duration::from_secs(7));
        // Without Retry-After: a second; a huge one is cut to MAX_PAUSE.
        let t1 = Instant::now();
        throttle.rate_limited(SlackMethod::ReactionsAdd, "CA", None);
        throttle.wait(SlackMethod::ReactionsAdd, "CZ").await;
        assert_eq!(elapsed_since(t1), Duration::from_secs(1));
        let t2 = Instant::now();
        throttle.rate_limited(SlackMethod::Update, "CA", Some(Duration::from_secs(86_400)));
        throttle.wait(SlackMethod::Update, "CA").await;
        assert_eq!(elapsed_since(t2), MAX_PAUSE);
    }

    #[tokio::test(start_paused = true)]
    async fn other_methods_keep_their_tier_per_method() {
        let throttle = SlackThrottle::new();
        // Tier 3: a burst of 50, then none until a refill (60/50 s).
        for _ in 0..50 {
            assert!(throttle.try_now(SlackMethod::ReactionsAdd, "C1"));
        }
        assert!(
            !throttle.try_now(SlackMethod::ReactionsAdd, "C2"),
            "per method, not per channel"
        );
        // Spent reactions hold up neither posts nor chat.update.
        assert!(throttle.try_now(SlackMethod::PostMessage, "C1"));
        assert!(throttle.try_now(SlackMethod::Update, "C1"));
        let t0 = Instant::now();
        throttle.wait(SlackMethod::ReactionsAdd, "C1").await;
        let waited = elapsed_since(t0);
        assert!(
            waited >= Duration::from_millis(1190) && waited <= Duration::from_millis(1210),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_channels_are_forgotten() {
        let throttle = SlackThrottle::new();
        for c in 0..SWEEP_EVERY - 1 {
            throttle
                .wait(SlackMethod::PostMessage, &format!("C{c}"))
                .await;
        }
        assert_eq!(throttle.channels_held() as u64, SWEEP_EVERY - 1);
        // Once their buckets are full again, the next sweep drops them.
        tokio::time::sleep(Duration::from_secs(CHANNEL_BURST as u64 + 1)).await;
        throttle.wait(SlackMethod::PostMessage, "CLAST").await;
        assert!(
            throttle.channels_held() <= 1,
            "{}",
            throttle.channels_held()
        );
    }
}
