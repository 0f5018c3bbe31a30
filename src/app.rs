//! Wiring: builds the running bot from [`Settings`] — store, redactor,
//! prompts, runbooks, RBAC, tool registry, models, agent, and the job
//! machinery (outbox, watches, digests, workers). The one place that knows
//! every concrete type; everything else receives what it needs.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;

use crate::agent::llm::OpenAiModel;
use crate::agent::metered::Meter;
use crate::agent::model::ChatModel;
use crate::agent::offline::OfflinePlanner;
use crate::agent::{Agent, AgentParts};
use crate::audit::Auditor;
use crate::config::Settings;
use crate::egress::Egress;
use crate::jobs::alerts::OutboxAlerts;
use crate::jobs::approval_expiry::Expirer;
use crate::jobs::digest::{Digester, Summarizer};
use crate::jobs::outbox::{Deliverer, Outbox, Sinks};
use crate::jobs::scheduler::Scheduler;
use crate::jobs::watch::{WatchRecorder, Watcher};
use crate::jobs::worker::{Handlers, Worker};
use crate::platform::QuantPlatform;
use crate::platform::alpha_vantage::{AlphaVantageClient, AlphaVantageConfig};
use crate::platform::live::{LiveConfig, LivePlatform};
use crate::platform::sandbox::SandboxPlatform;
use crate::prompts::Prompts;
use crate::rbac::Rbac;
use crate::redact::Redactor;
use crate::store::backends::Store;
use crate::tools::Tool;
use crate::tools::alpha_vantage_health::AlphaVantageHealthTool;
use crate::tools::approval::ApprovalRules;
use crate::tools::backtest_report::BacktestReport;
use crate::tools::backtest_status::BacktestStatusTool;
use crate::tools::cache_status::CacheStatus;
use crate::tools::compare_strategies::CompareStrategies;
use crate::tools::data_quality_summary::DataQualitySummary;
use crate::tools::model_metrics::ModelMetrics;
use crate::tools::recent_failures::RecentFailures;
use crate::tools::registry::RegistryLimits;
use crate::tools::registry::ToolRegistry;
use crate::tools::runbooks::{Runbook, SearchRunbooks};
use crate::tools::trigger_backtest::TriggerBacktest;
use crate::turn::{Boundary, TurnPipeline};

/// The settings of `path` (or the embedded defaults) with the environment on
/// top, checked by config and by every feature that owns a section's rules:
/// RBAC bindings, the model catalog, digest schedules. The one way the bot
/// loads its settings; an error names the key.
pub fn load_settings(
    path: Option<&std::path::Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, crate::config::ConfigError> {
    let settings = Settings::load(path, env)?;
    crate::rbac::validate_settings(&settings.rbac)?;
    crate::governance::models::ModelPolicy::new(&settings.llm.model, &settings.models)
        .map_err(|(key, message)| crate::config::invalid(&key, message))?;
    crate::jobs::schedule::validate_digests(&settings.digests)?;
    Ok(settings)
}

/// A target the bot posts to of its own accord (a digest channel, the fleet
/// caps' alert channel) on Discord, which this process cannot reach: the
/// outbox gets a Discord sender only with a gateway token (`DISCORD_TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordTargetWithoutToken {
    /// `digest 'morning'` or `limits.alert_channel`.
    pub what: String,
    pub channel: String,
    pub is_digest: bool,
}

impl std::fmt::Display for DiscordTargetWithoutToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} posts to {}, which needs DISCORD_TOKEN (discord.token): the outbox gets a Discord sender only with a gateway token",
            self.what, self.channel
        )
    }
}

/// Every configured target on Discord while no Discord token is set
/// (`chatops serve` and `chatops check` warn about each).
pub fn discord_targets_without_token(settings: &Settings) -> Vec<DiscordTargetWithoutToken> {
    if settings.discord.token.is_some() {
        return Vec::new();
    }
    let on_discord = |channel: &str| {
        crate::domain::ChannelId::parse(channel)
            .is_ok_and(|c| c.surface() == crate::domain::Surface::Discord)
    };
    let digests = settings.digests.iter().flat_map(|d| {
        d.channels
            .iter()
            .map(move |c| (format!("digest '{}'", d.name), c.clone(), true))
    });
    let alert = settings
        .limits
        .alert_channel
        .iter()
        .map(|c| ("limits.alert_channel".to_string(), c.clone(), false));
    digests
        .chain(alert)
        .filter(|(_, channel, _)| on_discord(channel))
        .map(|(what, channel, is_digest)| DiscordTargetWithoutToken {
            what,
            channel,
            is_digest,
        })
        .collect()
}

/// The assembled bot.
pub struct App {
    pub settings: Settings,
    pub store: Store,
    pub agent: Arc<Agent>,
    /// The only way a tool runs.
    pub registry: Arc<ToolRegistry>,
    /// The model digest summaries use (the configured LLM), if any.
    summary_model: Option<Arc<dyn ChatModel>>,
    /// The one way to call a model.
    meter: Meter,
    prompts: Arc<Prompts>,
    pub platform: Arc<dyn QuantPlatform>,
    pub redactor: Arc<Redactor>,
    /// The LLM client, when one is configured (for `chatops check`).
    pub llm: Option<Arc<OpenAiModel>>,
    pub auditor: Auditor,
    /// Rate limits, model policy, token budgets and usage.
    pub governance: Arc<crate::governance::Governance>,
    /// Messages that are not direct answers (notifications, digests).
    pub outbox: Outbox,
    /// Wakes this process's worker when something is enqueued for now.
    pub wake: Arc<Notify>,
    /// The one way out: every message the bot sends passes through it.
    pub egress: Arc<Egress>,
    /// The one turn pipeline every chat surface hands its events to.
    pub pipeline: Arc<TurnPipeline>,
}

impl App {
    /// A worker for `queues`, posting through `sinks`; it builds digests when
    /// `queues` has the digest queue.
    pub fn worker(&self, queues: Vec<String>, sinks: Sinks) -> Worker {
        let digest = queues
            .iter()
            .any(|q| q == crate::jobs::digest::QUEUE)
            .then(|| self.digester());
        let handlers = Handlers {
            expiry: Expirer {
                registry: self.registry.clone(),
                sinks: sinks.clone(),
            },
            deliver: Deliverer {
                sinks,
                auditor: self.auditor.clone(),
                jobs: self.store.jobs.clone(),
                lease: self.settings.jobs.lease(),
            },
            watch: Watcher::new(
                self.platform.clone(),
                self.registry.clone(),
                self.outbox.clone(),
                self.settings.jobs.clone(),
            ),
            digest,
            auditor: self.auditor.clone(),
        };
        Worker::new(
            self.store.jobs.clone(),
            queues,
            handlers,
            self.settings.jobs.clone(),
            self.wake.clone(),
        )
    }

    /// Builds digests (the worker's, and `chatops digest --preview`).
    pub fn digester(&self) -> Digester {
        Digester::new(
            self.settings.digests.clone(),
            self.registry.clone(),
            self.platform.clone(),
            self.outbox.clone(),
            Summarizer {
                model: self.summary_model.clone(),
                governance: self.governance.clone(),
                meter: self.meter.clone(),
                prompts: self.prompts.clone(),
            },
        )
    }

    /// The digest scheduler of the configured `[[digests]]`.
    pub fn scheduler(&self) -> anyhow::Result<Scheduler> {
        Ok(Scheduler::new(
            self.store.jobs.clone(),
            &self.settings.digests,
            self.wake.clone(),
        )?)
    }
}

/// Builds an [`App`]; tests use it to swap the store or add tools.
pub struct AppBuilder {
    settings: Settings,
    store: Option<Store>,
    platform: Option<Arc<dyn QuantPlatform>>,
    model: Option<Arc<dyn ChatModel>>,
    extra_tools: Vec<Arc<dyn Tool>>,
}

impl App {
    pub fn builder(settings: Settings) -> AppBuilder {
        AppBuilder {
            settings,
            store: None,
            platform: None,
            model: None,
            extra_tools: Vec::new(),
        }
    }
}

impl AppBuilder {
    /// Use this store instead of opening the configured one.
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Use this platform instead of the configured one.
    pub fn platform(mut self, platform: Arc<dyn QuantPlatform>) -> Self {
        self.platform = Some(platform);
        self
    }

    /// Answer with this model instead of the configured LLM (tests script
    /// one in-process).
    pub fn model(mut self, model: Arc<dyn ChatModel>) -> Self {
        self.model = Some(model);
        self
    }

    /// Register one more tool (beside the built-in ones).
    pub fn tool(mut self, tool: Arc<dyn Tool>) -> Self {
        self.extra_tools.push(tool);
        self
    }

    pub async fn build(self) -> anyhow::Result<App> {
        let settings = self.settings;
        crate::telemetry::handle(); // the metrics recorder, before anything records
        let store = match self.store {
            Some(store) => store,
            None => Store::open(&settings.store)
                .await
                .context("opening the bot's store")?,
        };
        let redactor = Arc::new(Redactor::new(settings.secret_values()));
        let prompts = Arc::new(Prompts::load()?);
        let auditor = Auditor::new(
            store.audit.clone(),
            redactor.clone(),
            prompts.version().to_string(),
        );

        let platform = match self.platform {
            Some(platform) => platform,
            None => open_platform(&settings, alpha_vantage(&settings)).await?,
        };
        let mut registry = ToolRegistry::new(
            Arc::new(Rbac::new(settings.rbac.clone())),
            store.approvals.clone(),
            auditor.clone(),
            redactor.clone(),
            RegistryLimits {
                tool_timeout: settings.agent.tool_timeout(),
                approvals: ApprovalRules {
                    ttl: std::time::Duration::from_secs(settings.approvals.ttl_secs),
                    allow_self_approval: settings.approvals.allow_self_approval,
                    four_eyes: settings.approvals.four_eyes.iter().cloned().collect(),
                },
                max_argument_chars: settings.limits.max_argument_chars,
                source: platform.kind(),
            },
        );

        let wake = Arc::new(Notify::new());
        let outbox = Outbox::new(store.jobs.clone(), wake.clone());
        let mut watches =
            WatchRecorder::new(store.jobs.clone(), settings.jobs.clone(), wake.clone());
        if settings.discord.token.is_none() {
            // Discord over HTTP interactions only: no bot token to post a completion with.
            watches = watches.no_watches_on(
                crate::domain::Surface::Discord,
                "Discord without DISCORD_TOKEN (HTTP-only mode) cannot post to a channel",
            );
        }
        registry.register(Arc::new(SearchRunbooks::new(Runbook::load_all()?)));
        registry.register(Arc::new(CacheStatus::new(platform.clone())));
        registry.register(Arc::new(RecentFailures::new(platform.clone())));
        registry.register(Arc::new(AlphaVantageHealthTool::new(platform.clone())));
        registry.register(Arc::new(TriggerBacktest::new(
            platform.clone(),
            Arc::new(watches),
        )));
        registry.register(Arc::new(BacktestStatusTool::new(platform.clone())));
        registry.register(Arc::new(CompareStrategies::new(platform.clone())));
        registry.register(Arc::new(DataQualitySummary::new(platform.clone())));
        registry.register(Arc::new(ModelMetrics::new(platform.clone())));
        registry.register(Arc::new(BacktestReport::new(platform.clone())));
        registry.register(Arc::new(crate::tools::usage_report::UsageReport::new(
            store.usage.clone(),
        )));
        for tool in self.extra_tools {
            registry.register(tool);
        }
        for tool in &settings.approvals.four_eyes {
            if !registry.is_mutating(tool) {
                anyhow::bail!(
                    "approvals.four_eyes: {tool:?} is not a tool that changes anything (mutating tools: {})",
                    registry
                        .tool_names()
                        .into_iter()
                        .filter(|t| registry.is_mutating(t))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }

        let llm = if settings.llm.is_configured() {
            Some(Arc::new(OpenAiModel::new(
                &settings.llm,
                settings.agent.llm_call_timeout(),
            )?))
        } else {
            None
        };
        let models =
            crate::governance::models::ModelPolicy::new(&settings.llm.model, &settings.models)
                .map_err(|(key, message)| anyhow::anyhow!("invalid value for {key}: {message}"))?;
        let alert_channel = (settings.limits.alert_channel.as_deref())
            .and_then(|c| crate::domain::ChannelId::parse(c).ok());
        let alerts = OutboxAlerts::new(outbox.clone(), auditor.clone(), alert_channel);
        let governance = Arc::new(crate::governance::Governance::new(
            settings.limits.clone(),
            models,
            &store,
            Arc::new(alerts),
        ));
        let registry = Arc::new(registry);
        let meter = Meter::new(governance.clone(), auditor.clone());
        // A model given to the builder (tests) stands in for the configured LLM.
        let primary = self
            .model
            .or_else(|| llm.clone().map(|m| m as Arc<dyn ChatModel>));
        let agent = Agent::new(AgentParts {
            primary: primary.clone(),
            offline: Arc::new(OfflinePlanner),
            registry: registry.clone(),
            sessions: store.sessions.clone(),
            auditor: auditor.clone(),
            redactor: redactor.clone(),
            prompts: prompts.clone(),
            limits: settings.agent.clone(),
            governance: governance.clone(),
            meter: meter.clone(),
            bot_name: settings.bot.name.clone(),
        });
        let agent = Arc::new(agent);
        let egress = Arc::new(Egress::new(redactor.clone()));
        let boundary = Boundary {
            slack_teams: settings.slack.allowed_teams.iter().cloned().collect(),
            discord_guilds: settings.discord.allowed_guilds.iter().cloned().collect(),
        };
        let pipeline = Arc::new(TurnPipeline::new(
            agent.clone(),
            store.events.clone(),
            egress.clone(),
            auditor.clone(),
            boundary,
        ));
        Ok(App {
            settings,
            store,
            agent,
            registry,
            summary_model: primary,
            meter,
            prompts,
            platform,
            redactor,
            llm,
            auditor,
            governance,
            outbox,
            wake,
            egress,
            pipeline,
        })
    }
}

/// The Alpha Vantage client, when a key is configured.
fn alpha_vantage(settings: &Settings) -> Option<Arc<AlphaVantageClient>> {
    let av = &settings.alpha_vantage;
    let key = av.api_key.clone()?;
    let mut config = AlphaVantageConfig::new(av.base_url.as_deref(), key);
    config.cache_for = std::time::Duration::from_secs(av.cache_secs);
    config.max_calls_per_day = av.max_calls_per_day;
    Some(Arc::new(AlphaVantageClient::new(config)))
}

/// The configured platform: the real one when its API and MongoDB are
/// configured, the sandbox otherwise.
async fn open_platform(
    settings: &Settings,
    alpha_vantage: Option<Arc<AlphaVantageClient>>,
) -> anyhow::Result<Arc<dyn QuantPlatform>> {
    let p = &settings.platform;
    match (&p.api_url, &p.mongodb_uri, &p.mongodb_db) {
        (Some(api_url), Some(mongodb_uri), Some(mongodb_db)) => {
            let config = LiveConfig {
                api_url: api_url.clone(),
                api_token: p.api_token.clone(),
                mongodb_uri: mongodb_uri.clone(),
                mongodb_db: mongodb_db.clone(),
                timeout: std::time::Duration::from_secs(p.timeout_secs),
            };
            Ok(Arc::new(
                LivePlatform::connect(config, alpha_vantage).await?,
            ))
        }
        _ => {
            let sandbox = SandboxPlatform::new(chrono::Utc::now());
            Ok(Arc::new(match alpha_vantage {
                Some(client) => sandbox.with_alpha_vantage(client),
                None => sandbox,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_schedules_are_checked_and_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let load = |body: &str| {
            std::fs::write(&path, body).unwrap();
            load_settings(Some(&path), &|_| None).map_err(|e| e.to_string())
        };
        let digest = |cron: &str, channel: &str| {
            format!("[[digests]]\nname = \"am\"\ncron = \"{cron}\"\nchannels = [\"{channel}\"]\n")
        };
        let ok = load(&digest("0 9 * * 1-5", "slack:C0OPS")).unwrap();
        assert_eq!(ok.digests[0].timezone, "Asia/Seoul", "the default zone");
        assert!(!ok.digests[0].llm_summary);
        let err = load(&digest("0 9 * *", "slack:C0OPS")).unwrap_err();
        assert!(err.contains("digests[am].cron"), "{err}");
        let err = load(&digest("0 9 * * *", "console:me")).unwrap_err();
        assert!(err.contains("digests[am].channels"), "{err}");
        let err = load(&digest("0 9 * * *", "teams:C1")).unwrap_err();
        assert!(err.contains("digests[am].channels"), "{err}");
        let zone = format!(
            "{}timezone = \"Mars/Olympus\"\n",
            digest("0 9 * * *", "slack:C1")
        );
        let err = load(&zone).unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");
        let twice = format!(
            "{}{}",
            digest("0 9 * * *", "slack:C1"),
            digest("0 10 * * *", "slack:C1")
        );
        let err = load(&twice).unwrap_err();
        assert!(err.contains("unique"), "{err}");
        let err = load("[jobs]\nlease_secs = 0\n").unwrap_err();
        assert!(err.contains("jobs.lease_secs"), "{err}");
    }
}
