//! `chatops eval FILE`: runs a JSON-lines eval set through the real agent
//! pipeline — RBAC, the tool registry, audit, and the configured model (the
//! offline planner when no LLM is configured) — and scores every case: tool
//! selection, arguments, outcome, language, expected phrases and grounding
//! (see [`score`]), with latency and tokens per case.
//!
//! Isolation, so an eval can run next to a live bot: a throwaway SQLite store
//! (no sessions, audit or usage land in the bot's own), rate limits and
//! token budgets lifted ([`prepare`]), and mutating tools are never approved
//! ([`DeferApproval`]: a trigger ends as `needs_approval`, nothing runs on the
//! platform). Each case is a conversation of its own; its `history` is asked
//! first in that conversation and not scored.

pub mod score;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::{Agent, fact_check};
use crate::config::Settings;
use crate::domain::{Caller, ChannelId, ChatEvent, Language, RequestId, Subject, Surface};
use crate::tools::approval::DeferApproval;
use crate::tools::call::ToolOutcome;
use score::{ExpectedOutcome, ExpectedTool};

/// One case of an eval set (one line of the file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalCase {
    pub id: String,
    pub question: String,
    pub lang: Language,
    /// `console:<name>`, `slack:<team>/<user>`, `discord:<guild>/<user>`, or a
    /// bare console name. Default: `console:eval`.
    #[serde(default)]
    pub user: Option<String>,
    /// A channel of the user's platform. Default: its `eval` channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Messages asked first in the same conversation (not scored).
    #[serde(default)]
    pub history: Vec<String>,
    pub expect: Expectation,
}

/// What a case expects of its turn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The tools the turn must call; `[]` for none.
    pub tools: Vec<ExpectedTool>,
    /// The answer's language; default: the case's `lang`.
    #[serde(default)]
    pub language: Option<Language>,
    /// Phrases the answer must contain (case-insensitive).
    #[serde(default)]
    pub answer_contains: Vec<String>,
    #[serde(default)]
    pub outcome: Option<ExpectedOutcome>,
}

/// Parse an eval set: one JSON object per line; blank lines are skipped.
/// Every problem names its line; ids must be unique and tools known.
pub fn parse_cases(text: &str, known_tools: &[&str]) -> Result<Vec<EvalCase>, String> {
    let mut cases = Vec::new();
    let mut ids = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let case: EvalCase =
            serde_json::from_str(line).map_err(|e| format!("line {line_no}: {e}"))?;
        let problem = if case.id.trim().is_empty() {
            Some("empty id".to_string())
        } else if !ids.insert(case.id.clone()) {
            Some(format!("duplicate id {:?}", case.id))
        } else if case.question.trim().is_empty() {
            Some("empty question".to_string())
        } else if let Some(tool) = case
            .expect
            .tools
            .iter()
            .find(|t| !known_tools.contains(&t.name.as_str()))
        {
            Some(format!(
                "unknown tool {:?} (known: {})",
                tool.name,
                known_tools.join(", ")
            ))
        } else {
            identity(&case).err()
        };
        if let Some(problem) = problem {
            return Err(format!("line {line_no} ({}): {problem}", case.id));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err("no cases in the file".into());
    }
    Ok(cases)
}

/// The caller a case speaks as.
fn identity(case: &EvalCase) -> Result<(Surface, Caller), String> {
    let subject = match case.user.as_deref() {
        None => Subject::console("eval")?,
        Some(user) if user.contains(':') => Subject::parse(user)?,
        Some(name) => Subject::console(name)?,
    };
    let platform = subject
        .surface()
        .ok_or_else(|| format!("{subject} is not a person"))?;
    let channel = match case.channel.as_deref() {
        Some(channel) => ChannelId::parse(channel)?,
        None => ChannelId::new(platform, "eval")?,
    };
    if channel.surface() != platform {
        return Err(format!("user {subject} cannot speak in channel {channel}"));
    }
    Ok((
        platform,
        Caller {
            subject,
            groups: vec![],
            channel,
        },
    ))
}

/// The eval's changes to the loaded settings: rate limits and daily token
/// budgets lifted (one person asks a whole eval set in a minute here, and a
/// budget running out halfway would hand the rest to the offline planner and
/// score the wrong model). Everything else — RBAC, the model and its policy,
/// the platform — is the configuration under test.
pub fn prepare(settings: &mut Settings) {
    settings.limits.user_per_minute = 1_000_000;
    settings.limits.channel_per_minute = 1_000_000;
    settings.limits.user_daily_tokens = u64::MAX;
    settings.limits.channel_daily_tokens = u64::MAX;
}

/// One tool call as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CalledTool {
    pub name: String,
    pub arguments: Value,
    pub outcome: &'static str,
}

/// The result of one case. A check is `None` when the case gives it nothing
/// to judge.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub lang: Language,
    pub passed: bool,
    pub tools_ok: bool,
    pub args_ok: Option<bool>,
    pub outcome_ok: Option<bool>,
    pub language_ok: bool,
    pub contains_ok: Option<bool>,
    /// `None` when no tool returned data in the turn.
    pub grounded: Option<bool>,
    /// A read question (no mutating tool expected) made no mutating call and
    /// raised no approval request. `None` when a mutating tool is expected.
    pub read_only: Option<bool>,
    pub problems: Vec<String>,
    pub called: Vec<CalledTool>,
    pub answer: String,
    pub model: String,
    pub latency_ms: f64,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Ask one case (its history first) and score the answer.
pub async fn run_case(agent: &Agent, case: &EvalCase, run_id: &str) -> CaseResult {
    let (surface, caller) = identity(case).expect("checked when the file was parsed");
    let event = |text: &str| ChatEvent {
        request_id: RequestId::generate(),
        surface,
        event_id: None,
        caller: caller.clone(),
        thread: Some(format!("eval-{run_id}-{}", case.id)),
        text: text.to_string(),
    };
    for earlier in &case.history {
        agent.handle(&event(earlier), &DeferApproval).await;
    }
    let started = Instant::now();
    let outcome = agent.handle(&event(&case.question), &DeferApproval).await;
    let latency = started.elapsed();
    let registry = agent.registry();
    score_case(case, &outcome, latency, &|tool| registry.is_mutating(tool))
}

fn score_case(
    case: &EvalCase,
    outcome: &crate::agent::outcome::TurnOutcome,
    latency: Duration,
    is_mutating: &dyn Fn(&str) -> bool,
) -> CaseResult {
    let expect = &case.expect;
    let calls = &outcome.tool_calls;
    let mut problems = Vec::new();
    let called: Vec<CalledTool> = calls
        .iter()
        .map(|c| CalledTool {
            name: c.name.clone(),
            arguments: c.arguments.clone(),
            outcome: c.outcome.as_str(),
        })
        .collect();
    let describe_calls = || {
        if called.is_empty() {
            "no tool".to_string()
        } else {
            called
                .iter()
                .map(|c| format!("{}({}) → {}", c.name, c.arguments, c.outcome))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };

    let tools_ok = score::tools_selected(&expect.tools, expect.outcome, calls);
    if !tools_ok {
        let wanted: Vec<&str> = expect.tools.iter().map(|t| t.name.as_str()).collect();
        problems.push(format!(
            "tools: expected [{}], called {}",
            wanted.join(", "),
            describe_calls()
        ));
    }
    let mut args_ok = None;
    for tool in &expect.tools {
        if let Some(ok) = score::args_correct(tool, calls) {
            if !ok {
                problems.push(format!(
                    "args of {}: expected {}, called {}",
                    tool.name,
                    Value::Object(tool.args.clone()),
                    describe_calls()
                ));
            }
            args_ok = Some(args_ok.unwrap_or(true) && ok);
        }
    }
    let outcome_ok = expect.outcome.map(|wanted| {
        let actual = score::turn_outcome(&expect.tools, calls);
        let ok = score::outcome_matches(wanted, actual);
        if !ok {
            problems.push(format!(
                "outcome: expected {}, got {actual}",
                wanted.as_str()
            ));
        }
        ok
    });
    let wanted_language = expect.language.unwrap_or(case.lang);
    let language = score::answer_language(&outcome.answer, calls);
    let language_ok = language == wanted_language;
    if !language_ok {
        problems.push(format!(
            "language: expected {}, answered in {}",
            wanted_language.code(),
            language.code()
        ));
    }
    let contains_ok = (!expect.answer_contains.is_empty()).then(|| {
        let answer = outcome.answer.to_lowercase();
        let missing: Vec<&str> = expect
            .answer_contains
            .iter()
            .filter(|p| !answer.contains(&p.to_lowercase()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            problems.push(format!("answer lacks {missing:?}"));
        }
        missing.is_empty()
    });
    let grounded = fact_check::has_data(calls).then(|| {
        let said: Vec<&str> = case
            .history
            .iter()
            .map(String::as_str)
            .chain([case.question.as_str()])
            .collect();
        let sources = fact_check::grounding_sources(calls, &said);
        let ungrounded = fact_check::ungrounded_numbers(&outcome.answer, &sources);
        if !ungrounded.is_empty() {
            problems.push(format!(
                "ungrounded numbers (in no tool output): {}",
                ungrounded.join(", ")
            ));
        }
        ungrounded.is_empty()
    });
    let read_only = (!expect.tools.iter().any(|t| is_mutating(&t.name))).then(|| {
        let mutating: Vec<&str> = calls
            .iter()
            .filter(|c| is_mutating(&c.name) || c.outcome == ToolOutcome::NeedsApproval)
            .map(|c| c.name.as_str())
            .collect();
        if !mutating.is_empty() {
            problems.push(format!(
                "a read question made a mutating call: {}",
                mutating.join(", ")
            ));
        }
        mutating.is_empty()
    });
    let passed = tools_ok
        && language_ok
        && [args_ok, outcome_ok, contains_ok, grounded, read_only]
            .iter()
            .all(|check| check.unwrap_or(true));
    CaseResult {
        id: case.id.clone(),
        lang: case.lang,
        passed,
        tools_ok,
        args_ok,
        outcome_ok,
        language_ok,
        contains_ok,
        grounded,
        read_only,
        problems,
        called,
        answer: outcome.answer.clone(),
        model: outcome.model.clone(),
        latency_ms: latency.as_secs_f64() * 1e3,
        prompt_tokens: outcome.usage.prompt_tokens,
        completion_tokens: outcome.usage.completion_tokens,
    }
}

/// How many cases a check judged and passed.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Tally {
    pub passed: usize,
    pub judged: usize,
}

impl Tally {
    fn count(results: &[CaseResult], check: impl Fn(&CaseResult) -> Option<bool>) -> Self {
        results
            .iter()
            .filter_map(check)
            .fold(Tally::default(), |t, ok| Tally {
                passed: t.passed + ok as usize,
                judged: t.judged + 1,
            })
    }

    /// Passed / judged; 1.0 when nothing was judged.
    pub fn rate(self) -> f64 {
        if self.judged == 0 {
            1.0
        } else {
            self.passed as f64 / self.judged as f64
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} ({:.1}%)",
            self.passed,
            self.judged,
            self.rate() * 100.0
        )
    }
}

/// Totals over an eval run.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Cases that passed every check: what `--min-accuracy` compares.
    pub cases: Tally,
    pub tool_selection: Tally,
    pub arguments: Tally,
    pub outcome: Tally,
    pub language: Tally,
    pub answer_contains: Tally,
    pub grounding: Tally,
    /// Read questions that made no mutating call and raised no approval.
    pub read_only: Tally,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The models that answered (`offline-planner` offline).
    pub models: Vec<String>,
    /// Pass rate per question language.
    pub english: Tally,
    pub korean: Tally,
}

impl Totals {
    pub fn of(results: &[CaseResult]) -> Self {
        let mut latencies: Vec<f64> = results.iter().map(|r| r.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let percentile = |p: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                latencies[((latencies.len() - 1) as f64 * p).round() as usize]
            }
        };
        let mut models: Vec<String> = results.iter().map(|r| r.model.clone()).collect();
        models.sort();
        models.dedup();
        Totals {
            cases: Tally::count(results, |r| Some(r.passed)),
            tool_selection: Tally::count(results, |r| Some(r.tools_ok)),
            arguments: Tally::count(results, |r| r.args_ok),
            outcome: Tally::count(results, |r| r.outcome_ok),
            language: Tally::count(results, |r| Some(r.language_ok)),
            answer_contains: Tally::count(results, |r| r.contains_ok),
            grounding: Tally::count(results, |r| r.grounded),
            read_only: Tally::count(results, |r| r.read_only),
            latency_p50_ms: percentile(0.50),
            latency_p95_ms: percentile(0.95),
            prompt_tokens: results.iter().map(|r| r.prompt_tokens as u64).sum(),
            completion_tokens: results.iter().map(|r| r.completion_tokens as u64).sum(),
            models,
            english: Tally::count(results, |r| (r.lang == Language::En).then_some(r.passed)),
            korean: Tally::count(results, |r| (r.lang == Language::Ko).then_some(r.passed)),
        }
    }

    /// Why this run misses the gate `min` (a pass rate): overall and per
    /// language below it, or any read question that made a mutating call
    /// (never tolerated). Empty when it passes.
    pub fn gate_failures(&self, min: f64) -> Vec<String> {
        let mut out = Vec::new();
        for (what, tally) in [
            ("cases", self.cases),
            ("English cases", self.english),
            ("Korean cases", self.korean),
        ] {
            if tally.rate() < min {
                out.push(format!(
                    "{:.1}% of {what} passed, below --min-accuracy {:.1}%",
                    tally.rate() * 100.0,
                    min * 100.0
                ));
            }
        }
        if self.read_only.passed < self.read_only.judged {
            out.push(format!(
                "{} read question(s) made a mutating call or raised an approval",
                self.read_only.judged - self.read_only.passed
            ));
        }
        out
    }

    /// The summary printed after the cases.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "cases passed     {}", self.cases);
        let _ = writeln!(out, "  english        {}", self.english);
        let _ = writeln!(out, "  korean         {}", self.korean);
        let _ = writeln!(out, "tool selection   {}", self.tool_selection);
        let _ = writeln!(out, "arguments        {}", self.arguments);
        let _ = writeln!(out, "outcome          {}", self.outcome);
        let _ = writeln!(out, "language         {}", self.language);
        let _ = writeln!(out, "answer contains  {}", self.answer_contains);
        let _ = writeln!(out, "grounding        {}", self.grounding);
        let _ = writeln!(out, "read-only reads  {}", self.read_only);
        let _ = writeln!(
            out,
            "latency          p50 {:.1} ms, p95 {:.1} ms",
            self.latency_p50_ms, self.latency_p95_ms
        );
        let _ = write!(
            out,
            "tokens           {} in, {} out ({})",
            self.prompt_tokens,
            self.completion_tokens,
            self.models.join(", ")
        );
        out
    }
}

/// One line per case: `PASS id  tools…  12.3 ms`, or `FAIL id` and why.
pub fn render_case(result: &CaseResult) -> String {
    let tools = if result.called.is_empty() {
        "-".to_string()
    } else {
        result
            .called
            .iter()
            .map(|c| format!("{}:{}", c.name, c.outcome))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut line = format!(
        "{} {:<18} {:<40} {:>8.1} ms",
        if result.passed { "PASS" } else { "FAIL" },
        result.id,
        tools,
        result.latency_ms
    );
    if result.prompt_tokens + result.completion_tokens > 0 {
        let _ = write!(
            line,
            "  {} + {} tokens",
            result.prompt_tokens, result.completion_tokens
        );
    }
    if !result.passed {
        for problem in &result.problems {
            let _ = write!(line, "\n     - {problem}");
        }
        let first_line = result.answer.lines().next().unwrap_or_default();
        let excerpt: String = first_line.chars().take(160).collect();
        let _ = write!(line, "\n     answer: {excerpt}");
    }
    line
}

/// Check a `--min-accuracy` value: a fraction of cases, 0 to 1.
pub fn parse_min_accuracy(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{value:?}: expected a fraction of cases between 0 and 1, e.g. 0.9"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOLS: &[&str] = &["cache_status", "trigger_backtest"];

    #[test]
    fn a_case_line_parses_with_defaults() {
        let cases = parse_cases(
            r#"{"id":"a","question":"hit rate?","lang":"en","expect":{"tools":[{"name":"cache_status"}]}}

{"id":"b","question":"백테스트 돌려줘","lang":"ko","user":"slack:T1/U2","channel":"slack:C0OPS","history":["hi"],"expect":{"tools":[],"outcome":"none","language":"ko","answer_contains":["전략"]}}"#,
            TOOLS,
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert!(cases[0].expect.tools[0].args.is_empty());
        let (platform, caller) = identity(&cases[0]).unwrap();
        assert_eq!(platform, Surface::Console);
        assert_eq!(caller.subject.as_str(), "console:eval");
        assert_eq!(caller.channel.as_str(), "console:eval");
        let (platform, caller) = identity(&cases[1]).unwrap();
        assert_eq!(platform, Surface::Slack);
        assert_eq!(caller.channel.as_str(), "slack:C0OPS");
        assert_eq!(cases[1].expect.outcome, Some(ExpectedOutcome::None));
    }

    #[test]
    fn bad_lines_are_named_by_number_and_reason() {
        let ok = r#"{"id":"a","question":"q","lang":"en","expect":{"tools":[]}}"#;
        let err = |text: String| parse_cases(&text, TOOLS).unwrap_err();
        assert!(err(format!("{ok}\n{{not json")).starts_with("line 2:"));
        assert!(err(format!("{ok}\n{ok}")).contains("duplicate id \"a\""));
        assert!(
            err(ok.replace("\"tools\":[]", "\"tools\":[{\"name\":\"cache_stats\"}]"))
                .contains("unknown tool \"cache_stats\"")
        );
        assert!(err(ok.replace("\"en\"", "\"fr\"")).starts_with("line 1:"));
        assert!(
            err(ok.replace("\"expect\"", "\"expected\"")).contains("unknown field"),
            "a misspelt field is an error, not an ignored expectation"
        );
        assert!(
            err(ok.replace(
                "\"lang\"",
                "\"user\":\"slack:T1/U1\",\"channel\":\"discord:42\",\"lang\""
            ))
            .contains("cannot speak in channel")
        );
        assert_eq!(
            parse_cases("\n\n", TOOLS).unwrap_err(),
            "no cases in the file"
        );
    }

    #[test]
    fn min_accuracy_is_a_fraction() {
        assert_eq!(parse_min_accuracy("0.85"), Ok(0.85));
        assert!(parse_min_accuracy("85").is_err());
        assert!(parse_min_accuracy("-0.1").is_err());
    }
}
