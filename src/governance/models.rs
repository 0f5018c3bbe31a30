//! The model catalog and the policy over it: which model each use gets
//! (chat answers, digest summaries), which tiers people may choose from, and
//! what a call costs. Built-in prices are list prices per 1M tokens (USD)
//! of common OpenAI models; `[[models.catalog]]` adds or overrides entries.
//! A configured model missing from the catalog (a local server's model) is
//! `local`: allowed as configured, costing nothing.

use std::collections::BTreeMap;

use crate::config::{ModelEntry, ModelSettings, ModelTier};

/// (name, tier, capabilities, input $/1M, output $/1M).
const BUILT_IN: &[(&str, ModelTier, &[&str], f64, f64)] = &[
    (
        "gpt-4o-mini",
        ModelTier::Small,
        &["tools", "vision"],
        0.15,
        0.60,
    ),
    (
        "gpt-4.1-nano",
        ModelTier::Small,
        &["tools", "vision"],
        0.10,
        0.40,
    ),
    (
        "gpt-4.1-mini",
        ModelTier::Small,
        &["tools", "vision"],
        0.40,
        1.60,
    ),
    (
        "gpt-5-mini",
        ModelTier::Small,
        &["tools", "vision", "reasoning"],
        0.25,
        2.00,
    ),
    (
        "gpt-4o",
        ModelTier::Standard,
        &["tools", "vision"],
        2.50,
        10.00,
    ),
    (
        "gpt-4.1",
        ModelTier::Standard,
        &["tools", "vision"],
        2.00,
        8.00,
    ),
    (
        "o4-mini",
        ModelTier::Standard,
        &["tools", "vision", "reasoning"],
        1.10,
        4.40,
    ),
    (
        "gpt-5",
        ModelTier::Premium,
        &["tools", "vision", "reasoning"],
        1.25,
        10.00,
    ),
    (
        "o3",
        ModelTier::Premium,
        &["tools", "vision", "reasoning"],
        2.00,
        8.00,
    ),
];

/// What a use of the LLM is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelUse {
    Chat,
    DigestSummary,
}

/// Why a model was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelRefusal {
    #[error("{model} is not in the model catalog")]
    Unknown { model: String },
    #[error("{model} is a {tier} model; allowed here: {}", allowed.join(", "))]
    TierNotAllowed {
        model: String,
        tier: &'static str,
        allowed: Vec<String>,
    },
    #[error("{model} cannot call tools, which chat needs")]
    NoTools { model: String },
}

/// The catalog and the policy.
#[derive(Debug, Clone)]
pub struct ModelPolicy {
    catalog: BTreeMap<String, ModelEntry>,
    chat_default: String,
    digest_default: String,
    chat_tiers: Vec<ModelTier>,
    digest_tiers: Vec<ModelTier>,
    channels: BTreeMap<String, String>,
}

impl ModelPolicy {
    /// The policy of `settings` with `configured` (`llm.model`) as the chat
    /// default. Errors name the offending key.
    pub fn new(configured: &str, settings: &ModelSettings) -> Result<Self, (String, String)> {
        let mut catalog: BTreeMap<String, ModelEntry> = BUILT_IN
            .iter()
            .map(|(name, tier, caps, input, output)| {
                let entry = ModelEntry {
                    name: name.to_string(),
                    tier: *tier,
                    capabilities: caps.iter().map(|c| c.to_string()).collect(),
                    input_per_1m: *input,
                    output_per_1m: *output,
                };
                (name.to_string(), entry)
            })
            .collect();
        for entry in &settings.catalog {
            if entry.name.trim().is_empty() || entry.input_per_1m < 0.0 || entry.output_per_1m < 0.0
            {
                return Err((
                    "models.catalog".into(),
                    format!("{:?}: expected a name and prices of 0 or more", entry.name),
                ));
            }
            catalog.insert(entry.name.clone(), entry.clone());
        }
        // The configured model is allowed as configured; unknown ones are local.
        for name in [Some(configured), settings.digest.as_deref()]
            .into_iter()
            .flatten()
        {
            catalog
                .entry(name.to_string())
                .or_insert_with(|| ModelEntry {
                    name: name.to_string(),
                    tier: ModelTier::Local,
                    capabilities: vec!["tools".into()],
                    input_per_1m: 0.0,
                    output_per_1m: 0.0,
                });
        }
        let policy = Self {
            catalog,
            chat_default: configured.to_string(),
            digest_default: settings
                .digest
                .clone()
                .unwrap_or_else(|| configured.to_string()),
            chat_tiers: settings.chat_tiers.clone(),
            digest_tiers: settings.digest_tiers.clone(),
            channels: settings.channels.clone(),
        };
        for (channel, model) in &policy.channels {
            policy
                .check(ModelUse::Chat, model)
                .map_err(|e| (format!("models.channels.\"{channel}\""), e.to_string()))?;
        }
        Ok(policy)
    }

    pub fn entry(&self, model: &str) -> Option<&ModelEntry> {
        self.catalog.get(model)
    }

    /// The default model of `use_`, and of chat in `channel`.
    pub fn default_for(&self, use_: ModelUse, channel: &str) -> &str {
        match use_ {
            ModelUse::Chat => self
                .channels
                .get(channel)
                .map_or(self.chat_default.as_str(), String::as_str),
            ModelUse::DigestSummary => &self.digest_default,
        }
    }

    fn tiers(&self, use_: ModelUse) -> &[ModelTier] {
        match use_ {
            ModelUse::Chat => &self.chat_tiers,
            ModelUse::DigestSummary => &self.digest_tiers,
        }
    }

    /// Whether people may choose `model` for `use_`.
    pub fn check(&self, use_: ModelUse, model: &str) -> Result<&ModelEntry, ModelRefusal> {
        let entry = self
            .catalog
            .get(model)
            .ok_or_else(|| ModelRefusal::Unknown {
                model: model.to_string(),
            })?;
        if !self.tiers(use_).contains(&entry.tier) {
            return Err(ModelRefusal::TierNotAllowed {
                model: model.to_string(),
                tier: entry.tier.as_str(),
                allowed: self.allowed(use_),
            });
        }
        if use_ == ModelUse::Chat && !entry.capabilities.iter().any(|c| c == "tools") {
            return Err(ModelRefusal::NoTools {
                model: model.to_string(),
            });
        }
        Ok(entry)
    }

    /// The models people may choose for `use_`, cheapest tier first.
    pub fn allowed(&self, use_: ModelUse) -> Vec<String> {
        let mut allowed: Vec<&ModelEntry> = self
            .catalog
            .values()
            .filter(|e| self.tiers(use_).contains(&e.tier))
            .filter(|e| use_ != ModelUse::Chat || e.capabilities.iter().any(|c| c == "tools"))
            .collect();
        allowed.sort_by(|a, b| (a.tier, &a.name).cmp(&(b.tier, &b.name)));
        allowed.into_iter().map(|e| e.name.clone()).collect()
    }

    /// USD for one call; models outside the catalog cost nothing.
    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        self.catalog.get(model).map_or(0.0, |e| {
            (prompt_tokens as f64 * e.input_per_1m + completion_tokens as f64 * e.output_per_1m)
                / 1_000_000.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(settings: ModelSettings) -> ModelPolicy {
        ModelPolicy::new("gpt-4o-mini", &settings).unwrap()
    }

    #[test]
    fn people_choose_within_the_allowed_tiers() {
        let p = policy(ModelSettings::default());
        assert_eq!(
            p.check(ModelUse::Chat, "gpt-4o").unwrap().tier,
            ModelTier::Standard
        );
        let refused = p.check(ModelUse::Chat, "o3").unwrap_err();
        assert!(matches!(
            refused,
            ModelRefusal::TierNotAllowed {
                tier: "premium",
                ..
            }
        ));
        assert!(refused.to_string().contains("gpt-4o-mini"), "{refused}");
        assert!(!refused.to_string().contains("o3,"), "{refused}");
        assert!(matches!(
            p.check(ModelUse::Chat, "gpt-9"),
            Err(ModelRefusal::Unknown { .. })
        ));
        assert!(
            p.check(ModelUse::DigestSummary, "gpt-4o").is_err(),
            "digests: small only"
        );
        assert_eq!(
            p.allowed(ModelUse::Chat)[0],
            "gpt-4.1-mini",
            "small tier first"
        );
    }

    #[test]
    fn costs_come_from_the_catalog_and_config_overrides_it() {
        let p = policy(ModelSettings::default());
        let cost = p.cost("gpt-4o-mini", 1_000_000, 100_000);
        assert!((cost - 0.21).abs() < 1e-9, "{cost}");
        let custom = policy(ModelSettings {
            catalog: vec![ModelEntry {
                name: "gpt-4o-mini".into(),
                tier: ModelTier::Small,
                capabilities: vec!["tools".into()],
                input_per_1m: 1.0,
                output_per_1m: 2.0,
            }],
            ..ModelSettings::default()
        });
        assert!((custom.cost("gpt-4o-mini", 500_000, 500_000) - 1.5).abs() < 1e-9);
        assert_eq!(custom.cost("not-listed", 1_000, 1_000), 0.0);
    }

    #[test]
    fn a_local_model_is_allowed_as_configured_and_free() {
        let p = ModelPolicy::new("llama3.1:8b", &ModelSettings::default()).unwrap();
        assert_eq!(p.default_for(ModelUse::Chat, "slack:C1"), "llama3.1:8b");
        assert_eq!(p.entry("llama3.1:8b").unwrap().tier, ModelTier::Local);
        assert_eq!(p.cost("llama3.1:8b", 10_000, 10_000), 0.0);
    }

    #[test]
    fn channel_defaults_must_be_within_policy() {
        let mut settings = ModelSettings::default();
        settings
            .channels
            .insert("slack:C0RESEARCH".into(), "gpt-4o".into());
        let p = policy(settings.clone());
        assert_eq!(p.default_for(ModelUse::Chat, "slack:C0RESEARCH"), "gpt-4o");
        assert_eq!(
            p.default_for(ModelUse::Chat, "slack:C0OTHER"),
            "gpt-4o-mini"
        );
        settings.channels.insert("slack:C0VIP".into(), "o3".into());
        let (key, message) = ModelPolicy::new("gpt-4o-mini", &settings).unwrap_err();
        assert_eq!(key, "models.channels.\"slack:C0VIP\"");
        assert!(message.contains("premium"), "{message}");
    }
}
