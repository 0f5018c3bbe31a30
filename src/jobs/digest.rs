//! Scheduled ops digests: the `digest` job the [`super::scheduler`] enqueues
//! for one tick of one `[[digests]]` schedule. The worker builds the body from
//! the read-only tools' own output (run for the bot: audited, no RBAC) and
//! the platform's completed backtests (with `backtest_report`'s one-line curve summary) —
//! deterministic, zero LLM tokens — and
//! posts it to each target channel through the outbox. An optional
//! LLM-written summary line goes on top when the schedule asks for it; the
//! digest never waits on, or fails because of, the LLM.
//!
//! `chatops digest --preview <name>` builds the same body and prints it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::backoff;
use super::outbox::{OutboundMessage, Outbox};
use super::schedule::{Schedule, describe_tick};
use crate::agent::metered::{self, CallFor, Meter};
use crate::agent::model::{ChatModel, Message, ModelRequest};
use crate::config::{DigestSection, DigestSettings};
use crate::domain::{Caller, ChannelId, Language, RequestId, Subject, Surface};
use crate::egress::Outgoing;
use crate::governance::Governance;
use crate::governance::models::ModelUse;
use crate::i18n::{tool_text, words};
use crate::platform::QuantPlatform;
use crate::presentation;
use crate::prompts::Prompts;
use crate::store::{Job, JobRelease};
use crate::tools::ToolContext;
use crate::tools::TypedTool;
use crate::tools::alpha_vantage_health::AlphaVantageHealthTool;
use crate::tools::backtest_report;
use crate::tools::cache_status::CacheStatus;
use crate::tools::call::ToolOutcome;
use crate::tools::data_quality_summary::DataQualitySummary;
use crate::tools::recent_failures::RecentFailures;
use crate::tools::registry::ToolRegistry;

pub const KIND: &str = "digest";
pub const QUEUE: &str = "digest";
/// Completed backtests listed in a digest.
const COMPLETED_SHOWN: usize = 10;

/// `body` without its trailing source note.
fn without_note<'a>(body: &'a str, note: Option<&str>) -> &'a str {
    note.and_then(|n| body.strip_suffix(n))
        .map_or(body, |rest| rest.trim_end())
}

/// One run of a schedule: the job's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRun {
    pub name: String,
    /// The scheduled time.
    pub tick: DateTime<Utc>,
    /// The previous digest's time: "since the last digest" starts here.
    pub since: DateTime<Utc>,
    /// Enqueued well after `tick` (the bot was down).
    pub late: bool,
    /// Ticks skipped during the downtime (posted once, not once each).
    pub missed: u32,
}

/// Builds and posts digests.
pub struct Digester {
    digests: Vec<DigestSettings>,
    registry: Arc<ToolRegistry>,
    platform: Arc<dyn QuantPlatform>,
    outbox: Outbox,
    summarizer: Summarizer,
}

/// What writes a digest's summary line: the model, which model name policy
/// picks, the meter every call goes through, and the prompt.
pub struct Summarizer {
    pub model: Option<Arc<dyn ChatModel>>,
    /// Which model a summary may use.
    pub governance: Arc<Governance>,
    /// The one way to call a model (budgets, usage, audit, fences).
    pub meter: Meter,
    pub prompts: Arc<Prompts>,
}

impl Digester {
    pub fn new(
        digests: Vec<DigestSettings>,
        registry: Arc<ToolRegistry>,
        platform: Arc<dyn QuantPlatform>,
        outbox: Outbox,
        summarizer: Summarizer,
    ) -> Self {
        Self {
            digests,
            registry,
            platform,
            outbox,
            summarizer,
        }
    }

    fn find(&self, name: &str) -> Option<&DigestSettings> {
        self.digests.iter().find(|d| d.name == name)
    }

    /// Build the digest of the job's tick and enqueue it for each channel.
    pub async fn run(&self, job: &Job) -> JobRelease {
        let run: DigestRun = match serde_json::from_value(job.payload.clone()) {
            Ok(r) => r,
            Err(e) => {
                return JobRelease::Dead {
                    error: format!("unreadable digest job: {e}"),
                };
            }
        };
        let Some(def) = self.find(&run.name) else {
            return JobRelease::Dead {
                error: format!("no digest named {:?} in the configuration", run.name),
            };
        };
        let text = self.build(def, &run).await;
        for channel in &def.channels {
            let Ok(channel) = ChannelId::parse(channel) else {
                continue; // validated at start-up
            };
            let message = OutboundMessage {
                channel: channel.clone(),
                thread: None,
                message: Outgoing::text(text.as_str()),
                purpose: "digest".into(),
                request_id: None,
                parts_sent: 0,
            };
            let key = format!(
                "digest:{}:{}:{channel}",
                run.name,
                run.tick.timestamp_millis()
            );
            if let Err(e) = self.outbox.enqueue(&key, &message).await {
                // Channels already enqueued are skipped next time by their key.
                return JobRelease::Retry {
                    run_at: crate::clock::now()
                        + chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_default(),
                    error: e.to_string(),
                    payload: job.payload.clone(),
                };
            }
        }
        tracing::info!(digest = %run.name, tick = %run.tick, late = run.late, channels = def.channels.len(), "digest enqueued");
        JobRelease::Done
    }

    /// The digest `name` as it would be posted now (for its latest tick), for
    /// `chatops digest --preview`.
    pub async fn preview(&self, name: &str, now: DateTime<Utc>) -> Result<String, String> {
        let def = self.find(name).ok_or_else(|| {
            let names: Vec<&str> = self.digests.iter().map(|d| d.name.as_str()).collect();
            if names.is_empty() {
                format!(
                    "no digest named {name:?}: none is configured ([[digests]] in chatops.toml)"
                )
            } else {
                format!("no digest named {name:?}; configured: {}", names.join(", "))
            }
        })?;
        let schedule = Schedule::parse(&def.cron, &def.timezone).map_err(|e| e.to_string())?;
        let tick = schedule.last_tick_at_or_before(now).unwrap_or(now);
        let since = schedule
            .last_tick_at_or_before(tick - chrono::Duration::seconds(1))
            .unwrap_or(tick - chrono::Duration::hours(24));
        let run = DigestRun {
            name: name.to_string(),
            tick,
            since,
            late: false,
            missed: 0,
        };
        Ok(self.build(def, &run).await)
    }

    /// The digest's text: heading, optional summary line, one block per section.
    pub async fn build(&self, def: &DigestSettings, run: &DigestRun) -> String {
        let lang = def.language;
        // Validated at start-up; only the zone is needed here, not the cron.
        let tz = def
            .timezone
            .trim()
            .parse::<chrono_tz::Tz>()
            .unwrap_or(chrono_tz::Tz::UTC);
        let first_channel = def
            .channels
            .iter()
            .find_map(|c| ChannelId::parse(c).ok())
            .unwrap_or_else(|| ChannelId::new(Surface::Console, "digest").expect("valid"));
        let ctx = ToolContext {
            request_id: RequestId::generate(),
            surface: first_channel.surface(),
            caller: Caller {
                subject: Subject::system(&format!("digest:{}", def.name)),
                groups: vec![],
                channel: first_channel,
            },
            thread: None,
            language: lang,
        };
        let since_text = describe_tick(run.since, tz);
        let since_hours = ((run.tick - run.since).num_minutes() as f64 / 60.0)
            .ceil()
            .clamp(1.0, 720.0) as u32;
        let note = presentation::source_note(self.platform.kind(), lang);
        let mut blocks = Vec::new();
        for section in &def.sections {
            let (heading, body) = match section {
                DigestSection::CacheStatus => (
                    tool_text::CACHES.get(lang).to_string(),
                    self.tool(&ctx, CacheStatus::NAME, json!({})).await,
                ),
                DigestSection::Failures => (
                    tool_text::failures_since(lang, &since_text),
                    self.tool(
                        &ctx,
                        RecentFailures::NAME,
                        json!({"since_hours": since_hours, "limit": 10}),
                    )
                    .await,
                ),
                DigestSection::AlphaVantage => (
                    "Alpha Vantage".to_string(),
                    self.tool(&ctx, AlphaVantageHealthTool::NAME, json!({}))
                        .await,
                ),
                DigestSection::DataQuality => (
                    tool_text::DATA_QUALITY.get(lang).to_string(),
                    self.tool(
                        &ctx,
                        DataQualitySummary::NAME,
                        json!({"since_hours": since_hours}),
                    )
                    .await,
                ),
                DigestSection::BacktestsCompleted => (
                    tool_text::completed_since(lang, &since_text),
                    self.completed(run.since, lang).await,
                ),
            };
            blocks.push(format!("*{heading}*\n{}", without_note(&body, note)));
        }
        // The sandbox note once, under the whole digest, not under each section.
        if let Some(note) = note {
            blocks.push(note.to_string());
        }
        let mut head = tool_text::digest_heading(lang, &def.name, &describe_tick(run.tick, tz));
        if run.late {
            head.push('\n');
            head.push_str(&tool_text::digest_late(lang, run.missed));
        }
        let body = blocks.join("\n\n");
        if def.llm_summary
            && let Some(line) = self.summarizer.summary(&body, &ctx, lang).await
        {
            head.push_str(&format!("\n> {line}"));
        }
        format!("{head}\n\n{body}")
    }

    /// A read-only tool's rendering, or why it is missing.
    async fn tool(&self, ctx: &ToolContext, name: &str, args: Value) -> String {
        let result = self.registry.run_for_bot(ctx, name, args).await;
        if result.outcome == ToolOutcome::Ok {
            result.display
        } else {
            format!("⚠ {}", result.display)
        }
    }

    /// Completed backtests since `since`, with their headline KPIs.
    async fn completed(&self, since: DateTime<Utc>, lang: Language) -> String {
        let list = match self
            .platform
            .completed_backtests(since, COMPLETED_SHOWN)
            .await
        {
            Ok(list) => list,
            Err(e) => return format!("⚠ {e}"),
        };
        if list.is_empty() {
            return words::NONE.get(lang).to_string();
        }
        let names: std::collections::HashMap<String, String> = self
            .platform
            .strategies()
            .await
            .map(|all| all.into_iter().map(|s| (s.id, s.name)).collect())
            .unwrap_or_default();
        let mut rows = Vec::new();
        // Under the table, per backtest with a result, the report's one-line curve summary.
        let mut summaries = Vec::new();
        for b in &list {
            let kpis = match self.platform.backtest_result(&b.id).await {
                Ok(Some(r)) => {
                    if let Ok(artifacts) = self.platform.backtest_artifacts(&b.id).await {
                        summaries.push(format!(
                            "{}: {}",
                            b.id,
                            backtest_report::summary_line(artifacts.equity_curve.as_deref(), lang)
                        ));
                    }
                    (
                        presentation::signed_pct(r.performance.total_return),
                        format!("{:.2}", r.performance.sharpe_ratio),
                    )
                }
                _ => (
                    presentation::unknown(lang).into(),
                    presentation::unknown(lang).into(),
                ),
            };
            rows.push(vec![
                b.id.clone(),
                names
                    .get(&b.strategy_id)
                    .cloned()
                    .unwrap_or_else(|| b.strategy_id.clone()),
                b.config.symbols.join(","),
                b.completed_at.map(presentation::time).unwrap_or_default(),
                kpis.0,
                kpis.1,
            ]);
        }
        let headers = tool_text::completed_headers(lang);
        let table = presentation::table(&headers, &rows);
        if summaries.is_empty() {
            table
        } else {
            format!("{table}\n{}", summaries.join("\n"))
        }
    }
}

impl Summarizer {
    /// One summary line from the LLM, when it answers: through the meter
    /// (budget, usage and an `llm_call` audit record for the digest).
    async fn summary(&self, body: &str, ctx: &ToolContext, lang: Language) -> Option<String> {
        let model = self.model.as_ref()?;
        let name = self
            .governance
            .models
            .default_for(ModelUse::DigestSummary, ctx.caller.channel.as_str())
            .to_string();
        let messages = [
            Message::System(self.prompts.digest_summary(lang)),
            metered::data("digest", body),
        ];
        let request = ModelRequest {
            messages: &messages,
            tools: &[],
            language: lang,
            model: &name,
        };
        let call = CallFor {
            request_id: &ctx.request_id,
            caller: &ctx.caller,
            prompt: self.prompts.digest_summary_version(),
            step: 1,
            free: false,
        };
        match self.meter.complete(model.as_ref(), call, request).await {
            Ok(reply) => reply
                .content
                .and_then(|c| {
                    c.lines()
                        .find(|l| !l.trim().is_empty())
                        .map(|l| l.trim().to_string())
                })
                .map(|l| l.chars().take(300).collect()),
            Err(e) => {
                tracing::warn!(error = %e.kind.as_str(), "digest summary line skipped: the LLM did not answer");
                None
            }
        }
    }
}
