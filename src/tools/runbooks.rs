//! `search_runbooks`: finds the sections of the team's runbooks
//! (`runbooks/*.md`, embedded at build time) that best match a question, in
//! English or Korean, so answers can cite file and heading.
//!
//! A runbook is `# Title`, a `tags:` line (English and Korean terms), then
//! `## Heading` sections. Each section is one document, indexed with its
//! runbook's title and tags, and ranked with BM25 (the `bm25` crate). The
//! tokenizer lower-cases, splits on anything but letters and digits, drops
//! English stop words and plural `s`, and turns Hangul words into character
//! bigrams, so "캐시가" still meets "캐시" and particles don't matter.

use std::collections::HashSet;

use async_trait::async_trait;
use bm25::{Document, SearchEngine, SearchEngineBuilder, Tokenizer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ToolContext, ToolError, ToolOutput, TypedTool};
use crate::domain::Role;

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
        "rbac-changes.md",
        include_str!("../../runbooks/rbac-changes.md"),
    ),
    (
        "stuck-jobs.md",
        include_str!("../../runbooks/stuck-jobs.md"),
    ),
];

/// One section of a runbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub heading: String,
    pub text: String,
}

/// One parsed runbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runbook {
    pub file: String,
    pub title: String,
    pub tags: Vec<String>,
    pub sections: Vec<Section>,
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
        let tags = lines
            .next()
            .and_then(|l| l.strip_prefix("tags:"))
            .ok_or_else(|| err("the second line must be 'tags: a, b, c'"))?
            .split(',')
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        let mut sections: Vec<Section> = Vec::new();
        for line in lines {
            if let Some(heading) = line.strip_prefix("## ") {
                sections.push(Section {
                    heading: heading.trim().to_string(),
                    text: String::new(),
                });
            } else if let Some(section) = sections.last_mut() {
                section.text.push_str(line);
                section.text.push('\n');
            } else if !line.trim().is_empty() {
                return Err(err("text before the first '## Heading'"));
            }
        }
        if sections.is_empty() {
            return Err(err("no '## Heading' sections"));
        }
        for s in &mut sections {
            s.text = s.text.trim().to_string();
        }
        Ok(Self {
            file: file.to_string(),
            title,
            tags,
            sections,
        })
    }

    /// All embedded runbooks; an error names the malformed file.
    pub fn load_all() -> Result<Vec<Runbook>, RunbookError> {
        RUNBOOK_FILES
            .iter()
            .map(|(f, t)| Runbook::parse(f, t))
            .collect()
    }
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "for", "to", "of", "and", "or", "is", "are", "be", "do", "does", "how",
    "what", "when", "why", "i", "we", "it", "in", "on", "at", "with", "my", "our", "runbook",
    "runbooks", "런북", "방법",
];

/// English words and Hangul bigrams (see the module doc).
#[derive(Debug, Default, Clone, Copy)]
pub struct OpsTokenizer;

impl Tokenizer for OpsTokenizer {
    fn tokenize(&self, input_text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        for word in input_text
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        {
            let chars: Vec<char> = word.chars().collect();
            if chars.iter().any(|c| matches!(*c as u32, 0xAC00..=0xD7A3)) {
                if chars.len() == 1 {
                    tokens.push(word.to_string());
                }
                tokens.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
            } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
                tokens.push(word[..word.len() - 1].to_string());
            } else {
                tokens.push(word.to_string());
            }
        }
        tokens
    }
}

/// A section found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub runbook: &'a Runbook,
    pub section: &'a Section,
    pub score: f32,
}

/// The runbooks and their BM25 index (one document per section).
pub struct RunbookIndex {
    runbooks: Vec<Runbook>,
    /// Document id → (runbook, section) indexes.
    ids: Vec<(usize, usize)>,
    engine: SearchEngine<u32, u32, OpsTokenizer>,
}

impl RunbookIndex {
    pub fn new(runbooks: Vec<Runbook>) -> Self {
        let mut ids = Vec::new();
        let mut documents = Vec::new();
        for (r, runbook) in runbooks.iter().enumerate() {
            for (s, section) in runbook.sections.iter().enumerate() {
                // Title and tags stand with every section, so a section is
                // found by what its runbook is about as well as by its words.
                let contents = format!(
                    "{title}\n{tags}\n{heading}\n{text}",
                    title = runbook.title,
                    tags = runbook.tags.join(", "),
                    heading = section.heading,
                    text = section.text
                );
                documents.push(Document::new(ids.len() as u32, contents));
                ids.push((r, s));
            }
        }
        let engine =
            SearchEngineBuilder::with_tokenizer_and_documents(OpsTokenizer, documents).build();
        Self {
            runbooks,
            ids,
            engine,
        }
    }

    pub fn runbooks(&self) -> &[Runbook] {
        &self.runbooks
    }

    /// The best sections, at most one per runbook, best first.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit<'_>> {
        let mut seen = HashSet::new();
        self.engine
            .search(query, self.ids.len())
            .into_iter()
            .filter(|result| result.score > 0.0)
            .filter_map(|result| {
                let (r, s) = self.ids[result.document.id as usize];
                seen.insert(r).then(|| Hit {
                    runbook: &self.runbooks[r],
                    section: &self.runbooks[r].sections[s],
                    score: result.score,
                })
            })
            .take(limit)
            .collect()
    }
}

/// Arguments of `search_runbooks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRunbooksArgs {
    /// Topic, e.g. "alpha vantage rate limit".
    pub query: String,
    /// Sections, 1-5, default 3.
    #[serde(default)]
    pub limit: Option<u8>,
}

/// The `search_runbooks` tool.
pub struct SearchRunbooks {
    index: RunbookIndex,
}

impl SearchRunbooks {
    pub fn new(runbooks: Vec<Runbook>) -> Self {
        Self {
            index: RunbookIndex::new(runbooks),
        }
    }
}

/// `runbooks/<file>#<heading>` as a citation.
pub fn citation(runbook: &Runbook, section: &Section) -> String {
    format!("runbooks/{} § {}", runbook.file, section.heading)
}

#[async_trait]
impl TypedTool for SearchRunbooks {
    type Args = SearchRunbooksArgs;
    const NAME: &'static str = "search_runbooks";
    const DESCRIPTION: &'static str = "Search the ops runbooks: how to fix or handle something.";
    const REQUIRED_ROLE: Role = Role::Viewer;
    const MUTATING: bool = false;
    /// `cite_as` says file and heading; the score is the search's own.
    const MODEL_OMITS: &'static [&'static str] = &["score", "file", "heading"];

    async fn run(&self, ctx: &ToolContext, args: Self::Args) -> Result<ToolOutput, ToolError> {
        if args.query.trim().is_empty() {
            return Err(ToolError::InvalidArguments(
                "query must not be empty".into(),
            ));
        }
        let limit = args.limit.unwrap_or(3).clamp(1, 5) as usize;
        let hits = self.index.search(&args.query, limit);
        let data = serde_json::json!({
            "query": args.query,
            "sections": hits.iter().map(|h| serde_json::json!({
                "runbook": h.runbook.title,
                "file": format!("runbooks/{}", h.runbook.file),
                "heading": h.section.heading,
                "cite_as": citation(h.runbook, h.section),
                "score": (h.score * 100.0).round() / 100.0,
                "text": h.section.text,
            })).collect::<Vec<_>>(),
        });
        let display = if hits.is_empty() {
            crate::i18n::tool_text::no_runbook_matches(ctx.language, &args.query)
        } else {
            hits.iter()
                .map(|h| {
                    format!(
                        "📘 {} — {} ({})\n{}",
                        h.runbook.title,
                        h.section.heading,
                        citation(h.runbook, h.section),
                        h.section.text
                    )
                })
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
        for runbook in Runbook::load_all().unwrap() {
            assert!(!runbook.tags.is_empty(), "{} has no tags", runbook.file);
            assert!(
                runbook.sections.iter().any(|s| s.heading == "Steps"),
                "{} has no Steps section",
                runbook.file
            );
        }
    }

    #[test]
    fn finds_the_right_runbook_in_english_and_korean() {
        let index = RunbookIndex::new(Runbook::load_all().unwrap());
        let top = |q: &str| index.search(q, 1).first().map(|h| h.runbook.file.clone());
        let cases = [
            ("alpha vantage rate limit", "alpha-vantage-rate-limit.md"),
            (
                "알파밴티지 rate limit 걸리면 어떻게 해?",
                "alpha-vantage-rate-limit.md",
            ),
            ("캐시 적중률이 떨어졌을 때", "duckdb-cache-hit-rate.md"),
            ("backtest stuck in pending", "stuck-jobs.md"),
            ("몽고디비 연결 안됨", "mongodb-unavailable.md"),
            (
                "how do I give someone the operator role?",
                "rbac-changes.md",
            ),
            ("권한 거부", "rbac-changes.md"),
            (
                "LLM quota exceeded, offline mode",
                "llm-provider-degraded.md",
            ),
            (
                "why do backtests fail with invalid parameter",
                "backtest-failure-triage.md",
            ),
        ];
        let mut failures = Vec::new();
        for (query, expected) in cases {
            let got = top(query);
            if got.as_deref() != Some(expected) {
                failures.push(format!("{query:?}: expected {expected}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(index.search("zzz qqq", 3).is_empty());
    }

    #[test]
    fn hangul_is_tokenized_into_bigrams() {
        assert_eq!(
            OpsTokenizer.tokenize("캐시가 Limits"),
            ["캐시", "시가", "limit"]
        );
    }

    #[test]
    fn malformed_runbooks_name_the_file() {
        let err = Runbook::parse("x.md", "no title").unwrap_err();
        assert!(err.to_string().contains("runbooks/x.md"));
        let err = Runbook::parse("y.md", "# T\ntags: a\nno heading").unwrap_err();
        assert!(err.to_string().contains("before the first"));
    }
}
