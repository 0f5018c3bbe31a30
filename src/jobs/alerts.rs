//! The admins' alerts: a fleet cap reached is posted to `limits.alert_channel`
//! through the outbox (keyed `cap:<kind>:<day>`, so a second enqueue stores
//! nothing) and audited (`cap_reached`). Governance calls it once per cap and
//! day across the replicas (see `governance::caps`).

use async_trait::async_trait;

use super::outbox::{OutboundMessage, Outbox};
use crate::audit::Auditor;
use crate::domain::{Caller, ChannelId, RequestId, Subject};
use crate::egress::Outgoing;
use crate::governance::caps::{CapAlerts, CapReached};
use crate::store::AuditEvent;

/// What an alert message is, in the outbox's audit and logs.
pub const PURPOSE: &str = "cap_alert";

/// Fleet-cap alerts over the outbox.
pub struct OutboxAlerts {
    outbox: Outbox,
    auditor: Auditor,
    /// `limits.alert_channel`; `None`: audited and logged only.
    channel: Option<ChannelId>,
}

impl OutboxAlerts {
    pub fn new(outbox: Outbox, auditor: Auditor, channel: Option<ChannelId>) -> Self {
        Self {
            outbox,
            auditor,
            channel,
        }
    }
}

#[async_trait]
impl CapAlerts for OutboxAlerts {
    async fn cap_reached(&self, reached: &CapReached, caller: &Caller) {
        let (cap, day) = (reached.cap.as_str(), reached.day.to_string());
        tracing::warn!(cap, %day, used = reached.used, limit = reached.limit,
            "fleet LLM cap reached: the offline planner answers until 00:00 UTC");
        let text = crate::i18n::fleet_cap_alert(cap, &day, reached.used, reached.limit);
        let request_id = RequestId::generate();
        let told = match &self.channel {
            Some(channel) => {
                let message = OutboundMessage {
                    channel: channel.clone(),
                    thread: None,
                    message: Outgoing::text(text),
                    purpose: PURPOSE.into(),
                    request_id: Some(request_id.to_string()),
                    parts_sent: 0,
                };
                match self.outbox.enqueue(&reached.key(), &message).await {
                    Ok(_) => Some(channel.to_string()),
                    Err(e) => {
                        tracing::error!(error = %e, "fleet cap alert could not be stored");
                        None
                    }
                }
            }
            None => {
                tracing::warn!(
                    "no limits.alert_channel: the fleet cap alert is in the audit log only"
                );
                None
            }
        };
        let by = Caller {
            subject: Subject::system("caps"),
            groups: vec![],
            channel: self
                .channel
                .clone()
                .unwrap_or_else(|| caller.channel.clone()),
        };
        let event = AuditEvent::CapReached {
            cap: cap.into(),
            day,
            used: reached.used,
            limit: reached.limit,
            alert_channel: told,
        };
        self.auditor.record_or_log(&request_id, &by, event).await;
    }
}
