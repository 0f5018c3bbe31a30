//! Fleet caps: a daily token cap and a daily cost cap (USD) over every
//! person and channel together (`limits.global_daily_tokens`,
//! `limits.global_daily_cost_usd`; 0 turns one off).
//!
//! - The day's totals come from the shared usage store ([`LimitRepo::day_totals`]),
//!   so the caps hold across replicas. A store failure does not stop the LLM
//!   (logged), like the person's and channel's budgets.
//! - Past either cap, paid calls are not made: the offline planner answers
//!   until 00:00 UTC.
//! - The admins are told once per cap and day, whichever replica (and path:
//!   a turn, a digest summary) finds it first: the first to record
//!   `cap:<kind>:<day>` in the shared processed-events store tells them,
//!   through [`CapAlerts`] (the outbox, wired in `app.rs`). A replica that
//!   knows the day's alert is out does not ask the store again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::domain::Caller;
use crate::store::{LimitRepo, ProcessedEventRepo};

/// Which fleet cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    /// `limits.global_daily_tokens`.
    Tokens,
    /// `limits.global_daily_cost_usd`.
    CostUsd,
}

impl Cap {
    pub fn as_str(self) -> &'static str {
        match self {
            Cap::Tokens => "tokens",
            Cap::CostUsd => "cost_usd",
        }
    }
}

/// A fleet cap that is reached today.
#[derive(Debug, Clone, PartialEq)]
pub struct CapReached {
    pub cap: Cap,
    /// The UTC day.
    pub day: NaiveDate,
    /// Tokens or USD used that day by everyone.
    pub used: f64,
    pub limit: f64,
}

impl CapReached {
    /// The shared record (and outbox key) that makes the alert once per cap and day.
    pub fn key(&self) -> String {
        format!("cap:{}:{}", self.cap.as_str(), self.day)
    }
}

/// How the admins are told (implemented over the outbox, which audits it).
#[async_trait]
pub trait CapAlerts: Send + Sync {
    /// Called once per cap and day across the replicas; `caller` is whose
    /// call found it.
    async fn cap_reached(&self, reached: &CapReached, caller: &Caller);
}

/// No one to tell (tests, tools that build a bare governance).
pub struct NoAlerts;

#[async_trait]
impl CapAlerts for NoAlerts {
    async fn cap_reached(&self, reached: &CapReached, _caller: &Caller) {
        tracing::warn!(
            cap = reached.cap.as_str(),
            used = reached.used,
            limit = reached.limit,
            "fleet LLM cap reached; no one to tell"
        );
    }
}

/// The caps and their once-a-day alert (see the module doc).
pub struct FleetCaps {
    tokens: u64,
    cost_usd: f64,
    totals: Arc<dyn LimitRepo>,
    events: Arc<dyn ProcessedEventRepo>,
    alerts: Arc<dyn CapAlerts>,
    /// Alerts this process knows are out (`cap:<kind>:<day>`).
    told: Mutex<HashSet<String>>,
}

impl FleetCaps {
    pub fn new(
        tokens: u64,
        cost_usd: f64,
        totals: Arc<dyn LimitRepo>,
        events: Arc<dyn ProcessedEventRepo>,
        alerts: Arc<dyn CapAlerts>,
    ) -> Self {
        Self {
            tokens,
            cost_usd,
            totals,
            events,
            alerts,
            told: Mutex::default(),
        }
    }

    /// The first cap reached on `day`, if any; the admins are told the first
    /// time it is found (fleet-wide).
    pub async fn reached(&self, day: NaiveDate, caller: &Caller) -> Option<CapReached> {
        if self.tokens == 0 && self.cost_usd <= 0.0 {
            return None;
        }
        let totals = match self.totals.day_totals(day).await {
            Ok(totals) => totals,
            Err(e) => {
                tracing::warn!(error = %e, "fleet caps not checked: usage unavailable");
                return None;
            }
        };
        let reached = if self.tokens > 0 && totals.tokens >= self.tokens {
            CapReached {
                cap: Cap::Tokens,
                day,
                used: totals.tokens as f64,
                limit: self.tokens as f64,
            }
        } else if self.cost_usd > 0.0 && totals.cost_usd >= self.cost_usd {
            CapReached {
                cap: Cap::CostUsd,
                day,
                used: totals.cost_usd,
                limit: self.cost_usd,
            }
        } else {
            return None;
        };
        self.tell_once(&reached, caller).await;
        Some(reached)
    }

    async fn tell_once(&self, reached: &CapReached, caller: &Caller) {
        let key = reached.key();
        if !self
            .told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone())
        {
            return;
        }
        let first = match self
            .events
            .first_delivery("cap", &key, crate::clock::now(), chrono::Duration::days(2))
            .await
        {
            Ok(first) => first,
            Err(e) => {
                // Told again by a replica that could record it beats no one told.
                tracing::error!(error = %e, key, "fleet cap alert not deduplicated (store unavailable)");
                true
            }
        };
        if first {
            self.alerts.cap_reached(reached, caller).await;
        }
    }
}
