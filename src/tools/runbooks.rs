//! `search_runbooks`: finds the team's runbooks (`runbooks/*.md`, embedded at
//! build time) that match a question, in English or Korean, so answers can
//! cite them.
//!
//! A runbook starts with `# Title`, then a `keywords:` line (English and
//! Korean terms). Scoring: a query word found in the title counts 3, in the
//! keywords 2, in the body 1; Korean words also match when a keyword is a
//! prefix of them (particles: "캐시가" matches "캐시").

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Language;
use crate::rbac::Role;

/// Embedded runbooks: (file name, text). Add a line here with each new file
/// (a test checks the list against the folder).
pub const RUNBOOK_FILES: &[(&str, &str)] = &[
    (
        "alpha-vantage-rate-limit.md",
        include_str!("../../runbooks/alpha-vantage-rate-limit.md"),
    ),
    (
        "backtest-failure-triage.md",
        include_str!("../../runbooks/backtest-failure-triage.md"),
    ),
    (
        "duckdb-cache-hit-rate.md",
        include_str!("../../runbooks/duckdb-cache-hit-rate.md"),
    ),
    (
        "llm-provider-degraded.md",
        include_str!("../../runbooks/llm-provider-degraded.md"),
    ),
    (
        "mongodb-unavailable.md",
        include_str!("../../runbooks/mongodb-unavailable.md"),
    ),
    (
        "stuck-backtest.md",
        include_str!("../../runbooks/stuck-backtest.md"),
    ),
];

/// One parsed runbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runbook {
    pub file: String,
    pub title: String,
    pub keywords: Vec<String>,
    pub body: String,
}

/// A runbook file that does not follow the format.
#[derive(Debug, thiserror::Error)]
#[error("runbook runbooks/{file}: {message}")]
pub struct RunbookError {
    pub file: String,
    pub message: String,
}

impl Runbook {
    pub fn parse(file: &str, text: &str) -> Result<Self, RunbookError> {
        let err = |message: &str| RunbookError {
            file: file.to_string(),
            message: message.to_string(),
        };
        let mut lines = text.lines();
        let title = lines
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .ok_or_else(|| err("the first line must be '# Title'"))?
            .trim()
            .to_string();
        let keywords = lines
            .next()
            .and_then(|l| l.strip_prefix("keywords:"))
            .ok_or_else(|| err("the second line must be 'keywords: a, b, c'"))?
            .split(',')
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        Ok(Self {
            file: file.to_string(),
            title,
            keywords,
            body: lines.collect::<Vec<_>>().join("\n").trim().to_string(),
        })
    }

    /// All embedded runbooks; an error names the malformed file.
    pub fn load_all() -> Result<Vec<Runbook>, RunbookError> {
        RUNBOOK_FILES
            .iter()
            .map(|(f, t)| Runbook::parse(f, t))
            .collect()
    }

    fn score(&self, words: &[String]) -> u32 {
        let title = self.title.to_lowercase();
        let body = self.body.to_lowercase();
        let mut score = 0;
        for word in words {
            if title.contains(word.as_str()) {
                score += 3;
            }
            let hangul = !word.is_ascii();
            if self.keywords.iter().any(|k| {
                k.split_whitespace().any(|kw| kw == word)
                    || k == word
                    || (hangul && word.starts_with(k.as_str()) && k.chars().count() >= 2)
            }) {
                score += 2;
            }
            if word.chars().count() >= 3 && body.contains(word.as_str()) {
                score += 1;
            }
        }
        score
    }

    /// The "## Steps" section, or the start of the body.
    fn excerpt(&self) -> String {
        let section = self
            .body
            .split("\n## ")
            .find(|s| s.starts_with("Steps"))
            .unwrap_or(&self.body);
        let mut text: String = section
            .lines()
            .skip(1)
            .take(4)
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() {
            text = self.body.chars().take(300).collect();
        }
        text
    }
}

const STOP_WORDS: &[&str] = &[
    "the", "a", "an", "for", "to", "of", "and", "or", "is", "are", "how", "do", "i", "what",
    "runbook", "runbooks", "런북", "방법", "대응",
];

fn words(query: &str) -> Vec<String> {
    query
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        .map(str::to_string)
        .collect()
}

/// Search the runbooks: best matches first, at most `limit`.
pub fn search<'a>(runbooks: &'a [Runbook], query: &str, limit: usize) -> Vec<(&'a Runbook, u32)> {
    let words = words(query);
    let mut hits: Vec<(&Runbook, u32)> = runbooks
        .iter()
        .map(|r| (r, r.score(&words)))
        .filter(|(_, s)| *s > 0)
        .collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.file.cmp(&b.0.file)));
    hits.truncate(limit);
    hits
}

/// Arguments of `search_runbooks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRunbooksArgs {
    /// What the runbook should be about, e.g. "alpha vantage rate limit" or "캐시 적중률".
    pub query: String,
    /// How many runbooks to return (1-5, default 3).
    #[serde(default)]
    pub limit: Option<u8>,
}

/// The `search_runbooks` tool.
pub struct SearchRunbooks {
    runbooks: Vec<Runbook>,
}

impl SearchRunbooks {
    pub fn new(runbooks: Vec<Runbook>) -> Self {
        Self { runbooks }
    }
}

#[async_trait]
impl TypedTool for SearchRunbooks {
    type Args = SearchRunbooksArgs;
    const NAME: &'static str = "search_runbooks";
    const DESCRIPTION: &'static str = "Search the ops team's runbooks (incident procedures) by topic. \
        Use it when the user asks how to fix or handle something, and cite the runbook's title and file.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;

    async fn run(&self, ctx: &ToolContext, args: Self::Args) -> Result<ToolOutput, ToolError> {
        if args.query.trim().is_empty() {
            return Err(ToolError::InvalidArguments(
                "query must not be empty".into(),
            ));
        }
        let limit = args.limit.unwrap_or(3).clamp(1, 5) as usize;
        let hits = search(&self.runbooks, &args.query, limit);
        let data = serde_json::json!({
            "query": args.query,
            "runbooks": hits.iter().map(|(r, score)| serde_json::json!({
                "title": r.title, "file": format!("runbooks/{}", r.file), "score": score, "excerpt": r.excerpt(),
            })).collect::<Vec<_>>(),
        });
        let display = if hits.is_empty() {
            match ctx.language {
                Language::En => format!("No runbook matches \"{}\".", args.query),
                Language::Ko => format!("\"{}\"에 맞는 런북이 없습니다.", args.query),
            }
        } else {
            hits.iter()
                .map(|(r, _)| format!("📘 {} (runbooks/{})\n{}", r.title, r.file, r.excerpt()))
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        Ok(ToolOutput { data, display })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runbook_file_is_embedded_and_well_formed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".md"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = RUNBOOK_FILES.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(on_disk, embedded, "runbooks/ and RUNBOOK_FILES differ");
        assert_eq!(Runbook::load_all().unwrap().len(), embedded.len());
    }

    #[test]
    fn finds_runbooks_in_english_and_korean() {
        let all = Runbook::load_all().unwrap();
        let top = |q: &str| search(&all, q, 1).first().map(|(r, _)| r.file.clone());
        assert_eq!(
            top("alpha vantage rate limit").as_deref(),
            Some("alpha-vantage-rate-limit.md")
        );
        assert_eq!(
            top("캐시 적중률이 떨어졌을 때").as_deref(),
            Some("duckdb-cache-hit-rate.md")
        );
        assert_eq!(
            top("backtest stuck in pending").as_deref(),
            Some("stuck-backtest.md")
        );
        assert_eq!(
            top("몽고디비 연결 안됨").as_deref(),
            Some("mongodb-unavailable.md")
        );
        assert_eq!(top("zzz qqq"), None);
    }

    #[test]
    fn malformed_runbooks_name_the_file() {
        let err = Runbook::parse("x.md", "no title").unwrap_err();
        assert!(err.to_string().contains("runbooks/x.md"));
    }
}
