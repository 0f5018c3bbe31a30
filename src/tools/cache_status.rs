//! `cache_status`: hit rate over 24 h, entries, size and last refresh of the
//! platform's caches (DuckDB time-series cache, MongoDB cache). With no
//! traffic the hit rate is unknown, never 0 % or 100 %.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Role;
use crate::i18n::tool_text;
use crate::platform::QuantPlatform;
use crate::presentation;

/// Arguments of `cache_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheStatusArgs {
    /// "duckdb" or "mongodb"; omit for all.
    #[serde(default)]
    pub cache: Option<String>,
}

pub struct CacheStatus {
    platform: Arc<dyn QuantPlatform>,
}

impl CacheStatus {
    pub fn new(platform: Arc<dyn QuantPlatform>) -> Self {
        Self { platform }
    }
}

#[async_trait]
impl TypedTool for CacheStatus {
    type Args = CacheStatusArgs;
    const NAME: &'static str = "cache_status";
    const DESCRIPTION: &'static str = "Cache hit rate (24 h), entries, size, last refresh \
        (DuckDB, MongoDB).";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(&self, ctx: &ToolContext, args: CacheStatusArgs) -> Result<ToolOutput, ToolError> {
        let lang = ctx.language;
        let report = self.platform.cache_stats().await?;
        let wanted = args.cache.as_deref().map(|c| c.trim().to_lowercase());
        let caches: Vec<_> = report
            .caches
            .iter()
            .filter(|c| wanted.as_deref().is_none_or(|w| c.name.to_lowercase() == w))
            .collect();
        if caches.is_empty() {
            let known: Vec<&str> = report.caches.iter().map(|c| c.name.as_str()).collect();
            return Err(ToolError::failed(
                "not_found",
                format!(
                    "no cache named {:?}; known caches: {}",
                    args.cache.unwrap_or_default(),
                    known.join(", ")
                ),
            ));
        }
        let now = report.generated_at;
        let rows: Vec<Vec<String>> = caches
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    presentation::pct(c.hit_rate(), lang),
                    format!("{}/{}", c.hits_24h, c.hits_24h + c.misses_24h),
                    c.entries.to_string(),
                    presentation::bytes(c.size_bytes),
                    c.last_refresh_at.map_or_else(
                        || presentation::unknown(lang).to_string(),
                        |t| presentation::ago(t, now, lang),
                    ),
                ]
            })
            .collect();
        let headers = tool_text::cache_headers(lang);
        let display = format!(
            "{}\n{}",
            tool_text::CACHE_HEADING.get(lang),
            presentation::table(&headers, &rows)
        );
        let data = json!({
            "generated_at": report.generated_at,
            "caches": caches.iter().map(|c| json!({
                "name": c.name,
                "hit_rate_24h": c.hit_rate(),
                "hit_rate_note": if c.hit_rate().is_none() { Some("no traffic in 24 h: hit rate unknown") } else { None },
                "hits_24h": c.hits_24h,
                "misses_24h": c.misses_24h,
                "entries": c.entries,
                "size_bytes": c.size_bytes,
                "last_refresh_at": c.last_refresh_at,
            })).collect::<Vec<_>>(),
        });
        Ok(ToolOutput {
            data,
            display: presentation::with_source(display, self.platform.kind(), lang),
        })
    }
}
