//! The one way out: every message the bot sends anywhere — answers,
//! approval requests and their updates, watch completions, stuck notices,
//! digests, refusals, errors — becomes [`Part`]s here, and the adapters can
//! post nothing else (their send functions take only `Part`s and what is
//! built from them). On the way, in this order:
//!
//! 1. **Secrets are removed** ([`Redactor`]), from the bot's words and from
//!    platform data alike.
//! 2. **Text is text, never markup.** An [`Outgoing`] message is plain text plus the
//!    mentions the bot means ([`Segment::Mention`]); only those become live.
//!    In Slack `&`, `<` and `>` are escaped, so `<!channel>`, `<@U…>` or a
//!    disguised link `<https://x|label>` in a strategy name or an error
//!    message shows as typed. In Discord the body's `allowed_mentions` pings
//!    only the mentioned people (never @everyone, @here or a role) and a
//!    masked link `[label](url)` from data is broken apart.
//! 3. **Tables** (a header, a dashed rule, rows) go in code blocks in Slack
//!    and Discord, and `**bold**` becomes Slack's `*bold*`.
//! 4. **Limits hold**: text is cut into parts of at most the caller's limit,
//!    on line boundaries where it can be, never inside a character or an
//!    escape, code fences closed and reopened across a cut; or, where one
//!    part must do (an approval's arguments, an acknowledgement), cut short
//!    with a note of how much was left out.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{Subject, Surface};
use crate::redact::Redactor;

/// One piece of a message: text, or a person the bot means to mention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Text(String),
    Mention(Subject),
}

/// A message as the bot means it, before any platform sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "MessageWire")]
pub struct Outgoing {
    segments: Vec<Segment>,
}

/// Stored messages: the segments, or (jobs stored before mentions were
/// structured) one plain string.
#[derive(Deserialize)]
#[serde(untagged)]
enum MessageWire {
    Segments { segments: Vec<Segment> },
    Plain(String),
}

impl From<MessageWire> for Outgoing {
    fn from(wire: MessageWire) -> Self {
        match wire {
            MessageWire::Segments { segments } => Self { segments },
            MessageWire::Plain(text) => Self::text(text),
        }
    }
}

impl Outgoing {
    /// A message of plain text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            segments: vec![Segment::Text(text.into())],
        }
    }

    /// A sentence with `{who}` where `who` is to be mentioned (the bot's own
    /// sentences from the catalogue; `{who}` may appear more than once).
    pub fn mentioning(template: &str, who: &Subject) -> Self {
        let mut message = Self::default();
        for (i, piece) in template.split("{who}").enumerate() {
            if i > 0 {
                message = message.mention(who);
            }
            if !piece.is_empty() {
                message = message.then(piece);
            }
        }
        message
    }

    /// This message, then more text.
    pub fn then(mut self, text: impl Into<String>) -> Self {
        self.segments.push(Segment::Text(text.into()));
        self
    }

    /// This message, then a mention of `who` (a ping on Slack and Discord).
    pub fn mention(mut self, who: &Subject) -> Self {
        self.segments.push(Segment::Mention(who.clone()));
        self
    }
}

impl From<&str> for Outgoing {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

impl From<String> for Outgoing {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

/// Text ready for one surface: secrets removed, data's markup made inert,
/// within the limit it was cut for. Only [`Egress`] makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    text: String,
    /// Platform user ids this part mentions (Discord's `allowed_mentions.users`).
    mentions: Vec<String>,
}

impl Part {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn mentions(&self) -> &[String] {
        &self.mentions
    }

    /// Characters, the unit of every platform limit the bot honours.
    pub fn chars(&self) -> usize {
        self.text.chars().count()
    }
}

/// The one way out (see the module doc).
pub struct Egress {
    redactor: Arc<Redactor>,
}

/// Stands in for the n-th mention while text is shaped (private-use
/// characters; any in the input are dropped first, so data cannot forge one).
const MENTION_BASE: u32 = 0xE000;
const MENTION_SLOTS: u32 = 0x100;
/// The longest a mention becomes (`<@` + a 20-digit Discord id + `>`).
const MENTION_CHARS: usize = 24;
/// Room kept for closing and reopening a code fence across a cut.
const FENCE_ROOM: usize = 8;

impl Egress {
    pub fn new(redactor: Arc<Redactor>) -> Self {
        Self { redactor }
    }

    /// `text` without secrets, for a log line.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    /// `message` for `surface` in parts of at most `limit` characters each;
    /// at least one part (an empty message is "…").
    pub fn parts(&self, surface: Surface, message: &Outgoing, limit: usize) -> Vec<Part> {
        let (shaped, mentions) = self.shape(surface, message);
        let room = limit.saturating_sub(MENTION_CHARS * mentions.len()).max(16);
        let mut parts: Vec<Part> = split(&shaped, room)
            .into_iter()
            .map(|piece| finish(surface, &piece, &mentions))
            .filter(|p| !p.text.trim().is_empty())
            .collect();
        if parts.is_empty() {
            parts.push(finish(surface, "…", &[]));
        }
        parts
    }

    /// `message` for `surface` as one part of at most `limit` characters:
    /// cut short, with a note of how many characters were left out, when longer.
    pub fn one(&self, surface: Surface, message: &Outgoing, limit: usize) -> Part {
        let (shaped, mentions) = self.shape(surface, message);
        let room = limit.saturating_sub(MENTION_CHARS * mentions.len()).max(16);
        let total = shaped.chars().count();
        if total <= room {
            return finish(surface, &shaped, &mentions);
        }
        let mut cut = truncate_inert(&shaped, room.saturating_sub(FENCE_ROOM + 16));
        let left_out = total - cut.chars().count();
        if cut.matches("```").count() % 2 == 1 {
            cut.push_str("\n```");
        }
        cut.push_str(&format!("\n…(+{left_out})"));
        finish(surface, &cut, &mentions)
    }

    /// Redacted, formatted and escaped text with mention stand-ins, and the
    /// mentions they stand for.
    fn shape(&self, surface: Surface, message: &Outgoing) -> (String, Vec<Subject>) {
        let mut text = String::new();
        let mut mentions = Vec::new();
        for segment in &message.segments {
            match segment {
                Segment::Text(t) => {
                    let clean: String = t.chars().filter(|c| !is_stand_in(*c)).collect();
                    text.push_str(&self.redactor.redact(&clean));
                }
                Segment::Mention(who) => {
                    let slot = u32::try_from(mentions.len()).unwrap_or(MENTION_SLOTS);
                    match char::from_u32(MENTION_BASE + slot).filter(|_| slot < MENTION_SLOTS) {
                        Some(c) => {
                            text.push(c);
                            mentions.push(who.clone());
                        }
                        None => text.push_str(&display_name(who)),
                    }
                }
            }
        }
        let text = match surface {
            Surface::Slack => escape_slack(&slack_bold(&fence_tables(&text))),
            Surface::Discord => inert_discord_links(&fence_tables(&text)),
            // A terminal shows tables aligned as they are, and no markdown
            // bold or italics.
            Surface::Console => plain_italics(&text.replace("**", "")),
        };
        (text, mentions)
    }
}

/// `_italic_` as plain text, for a terminal. An underscore opens a span at
/// the start of a line, after a space or an opening bracket or quote, before
/// a character that is neither a space nor an underscore; the span closes at
/// the next underscore on that line when a non-space precedes it and an end,
/// a space or punctuation follows. Underscores inside words (`snake_case`,
/// `data/chatops_db`) and spans holding one are left as they are.
fn plain_italics(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut dropped = vec![false; chars.len()];
    let opens = |i: usize| {
        let before_ok = i == 0 || {
            let b = chars[i - 1];
            b.is_whitespace() || "([{\"'".contains(b)
        };
        let after_ok = chars
            .get(i + 1)
            .is_some_and(|c| !c.is_whitespace() && *c != '_');
        before_ok && after_ok
    };
    let closes = |j: usize| {
        !chars[j - 1].is_whitespace()
            && chars
                .get(j + 1)
                .is_none_or(|c| c.is_whitespace() || ".,;:!?)]}\"'".contains(*c))
    };
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '_' && opens(i) {
            let end = chars[i + 1..]
                .iter()
                .position(|c| *c == '_' || *c == '\n')
                .map(|k| i + 1 + k);
            if let Some(j) = end.filter(|j| chars[*j] == '_' && closes(*j)) {
                dropped[i] = true;
                dropped[j] = true;
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    chars
        .iter()
        .zip(dropped)
        .filter(|(_, d)| !d)
        .map(|(c, _)| *c)
        .collect()
}

fn is_stand_in(c: char) -> bool {
    (MENTION_BASE..MENTION_BASE + MENTION_SLOTS).contains(&u32::from(c))
}

/// A cut piece with its stand-ins turned into the surface's mentions.
fn finish(surface: Surface, piece: &str, mentions: &[Subject]) -> Part {
    let mut text = String::with_capacity(piece.len());
    let mut ids = Vec::new();
    for c in piece.chars() {
        if !is_stand_in(c) {
            text.push(c);
            continue;
        }
        let Some(who) = mentions.get((u32::from(c) - MENTION_BASE) as usize) else {
            continue;
        };
        match (surface, platform_user_id(surface, who)) {
            (Surface::Slack | Surface::Discord, Some(id)) => {
                text.push_str(&format!("<@{id}>"));
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => {
                let name = display_name(who);
                match surface {
                    Surface::Slack => text.push_str(&escape_slack(&name)),
                    _ => text.push_str(&name),
                }
            }
        }
    }
    Part {
        text,
        mentions: ids,
    }
}

/// `who`'s user id on `surface` when they are a user of it (ids are
/// alphanumeric; anything else is not mentioned).
fn platform_user_id(surface: Surface, who: &Subject) -> Option<String> {
    if who.surface() != Some(surface) {
        return None;
    }
    let id = who.as_str().rsplit('/').next()?;
    (!id.is_empty() && id.len() <= 20 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| id.to_string())
}

/// A person's name as plain text: the user part of the subject.
fn display_name(who: &Subject) -> String {
    let s = who.as_str();
    s.rsplit(['/', ':']).next().unwrap_or(s).to_string()
}

/// Slack's three control characters as entities.
fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `**bold**` as Slack's `*bold*`, outside code blocks.
fn slack_bold(text: &str) -> String {
    let mut in_code = false;
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("```") {
                in_code = !in_code;
                l.to_string()
            } else if in_code {
                l.to_string()
            } else {
                l.replace("**", "*")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Discord masked links (`[label](url)`) broken apart with a zero-width
/// space, so data cannot show one address and link another.
fn inert_discord_links(text: &str) -> String {
    text.replace("](", "]\u{200B}(")
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.contains("--") && t.chars().all(|c| c == '-' || c == ' ')
}

/// The text with each aligned table (header line, dashed rule, rows up to a
/// blank line or a `(` note) inside a code block.
pub fn fence_tables(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    let mut in_code = false;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && i + 1 < lines.len() && is_rule(lines[i + 1]) && !lines[i].trim().is_empty() {
            let mut end = i + 2;
            while end < lines.len() && !lines[end].trim().is_empty() && !lines[end].starts_with('(')
            {
                end += 1;
            }
            out.push("```".into());
            out.extend(lines[i..end].iter().map(|l| l.to_string()));
            out.push("```".into());
            i = end;
        } else {
            out.push(lines[i].to_string());
            i += 1;
        }
    }
    out.join("\n")
}

/// The longest prefix of `text` within `max` characters that does not end
/// inside an escape (`&amp;`).
fn truncate_inert(text: &str, max: usize) -> String {
    let mut cut: String = text.chars().take(max).collect();
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
        && cut.len() - amp < 6
    {
        cut.truncate(amp);
    }
    cut
}

/// Cut `text` into pieces of at most `max` characters on line boundaries,
/// closing and reopening a code block that a cut falls inside; a line longer
/// than a piece is cut on character boundaries (never inside an escape).
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(FENCE_ROOM * 2);
    let line_max = max - FENCE_ROOM;
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0usize;
    let mut in_code = false;
    let mut flush = |current: &mut String, current_chars: &mut usize, in_code: bool| {
        if in_code {
            current.push_str("```");
        }
        pieces.push(std::mem::take(current));
        *current_chars = 0;
        if in_code {
            current.push_str("```\n");
            *current_chars = 4;
        }
    };
    for line in text.lines() {
        let mut line = line.to_string();
        let mut line_chars = line.chars().count();
        while line_chars > line_max {
            if current_chars > usize::from(in_code) * 4 {
                flush(&mut current, &mut current_chars, in_code);
            }
            let head = truncate_inert(&line, line_max.saturating_sub(current_chars).max(1));
            let head = if head.is_empty() {
                line.chars().take(1).collect()
            } else {
                head
            };
            current.push_str(&head);
            current_chars += head.chars().count();
            line = line[head.len()..].to_string();
            line_chars = line.chars().count();
            flush(&mut current, &mut current_chars, in_code);
        }
        if current_chars > 0 && current_chars + line_chars + FENCE_ROOM > max {
            flush(&mut current, &mut current_chars, in_code);
        }
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        current.push_str(&line);
        current.push('\n');
        current_chars += line_chars + 1;
    }
    if !current.trim().is_empty() && current.trim() != "```" {
        pieces.push(current);
    }
    pieces
        .into_iter()
        .map(|p| p.trim_end().to_string())
        .filter(|p| !p.is_empty() && p != "```\n```" && p != "``````")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(secrets: &[&str]) -> Egress {
        Egress::new(Arc::new(Redactor::new(
            secrets.iter().map(|s| s.to_string()).collect(),
        )))
    }

    const NASTY: &str = "<!channel> <!here> <https://x.example|label> <@U999> [docs](https://evil.example) @everyone hunter2-secret-value";

    #[test]
    fn slack_gets_data_escaped_and_only_the_meant_mention_live() {
        let who = Subject::slack("T1", "U2");
        let message = Outgoing::text("✅ ")
            .mention(&who)
            .then(format!(", done: {NASTY}"));
        let parts = egress(&["hunter2-secret-value"]).parts(Surface::Slack, &message, 3000);
        assert_eq!(parts.len(), 1);
        let text = parts[0].text();
        assert!(text.starts_with("✅ <@U2>, done: "), "{text}");
        for live in ["<!channel>", "<!here>", "<https://", "<@U999>"] {
            assert!(!text.contains(live), "{live} in {text}");
        }
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(parts[0].mentions(), ["U2"]);
    }

    #[test]
    fn discord_mentions_only_who_the_bot_means_and_breaks_masked_links() {
        let who = Subject::discord("G1", "42");
        let message = Outgoing::text("hi ").mention(&who).then(NASTY);
        let part = &egress(&[]).parts(Surface::Discord, &message, 2000)[0];
        assert!(part.text().starts_with("hi <@42>"));
        assert_eq!(part.mentions(), ["42"]);
        assert!(!part.text().contains("](https://evil"), "{}", part.text());
    }

    #[test]
    fn a_template_mentions_who_it_names() {
        let who = Subject::discord("G", "7");
        let message = Outgoing::mentioning("✅ {who} 님, done ({who})", &who);
        let part = &egress(&[]).parts(Surface::Discord, &message, 100)[0];
        assert_eq!(part.text(), "✅ <@7> 님, done (<@7>)");
        assert_eq!(part.mentions(), ["7"]);
    }

    #[test]
    fn data_cannot_forge_a_mention_stand_in() {
        let forged = format!("{}x", char::from_u32(MENTION_BASE).unwrap());
        let part = &egress(&[]).parts(Surface::Slack, &Outgoing::text(forged), 100)[0];
        assert_eq!(part.text(), "x");
        assert!(part.mentions().is_empty());
    }

    #[test]
    fn people_are_mentioned_the_way_their_platform_does_it() {
        let e = egress(&[]);
        let mention = |surface, who: &Subject| {
            e.parts(surface, &Outgoing::default().mention(who), 100)[0]
                .text()
                .to_string()
        };
        assert_eq!(
            mention(Surface::Slack, &Subject::slack("T1", "U2")),
            "<@U2>"
        );
        assert_eq!(
            mention(Surface::Discord, &Subject::discord("G1", "42")),
            "<@42>"
        );
        let alice = Subject::console("alice").unwrap();
        assert_eq!(mention(Surface::Console, &alice), "alice");
        let bold = e.parts(Surface::Console, &Outgoing::text("role: **operator**"), 100);
        assert_eq!(
            bold[0].text(),
            "role: operator",
            "a terminal shows no markdown"
        );
    }

    #[test]
    fn a_terminal_shows_italics_plain_but_keeps_snake_case() {
        let e = egress(&[]);
        let console = |t: &str| {
            e.parts(Surface::Console, &Outgoing::text(t), 1000)[0]
                .text()
                .to_string()
        };
        assert_eq!(
            console("done\n_(offline mode: answered by the built-in planner, without the LLM)_"),
            "done\n(offline mode: answered by the built-in planner, without the LLM)"
        );
        assert_eq!(console("_(오프라인 모드: 답)_"), "(오프라인 모드: 답)");
        assert_eq!(console("see _this_ and _that_."), "see this and that.");
        for kept in [
            "search_runbooks and cache_status",
            "data/chatops_db.sqlite",
            "__init__",
            "_private_name",
            "a _ b _ c",
            "_open but never closed",
            "`_x_`",
        ] {
            assert_eq!(console(kept), kept);
        }
        // Slack keeps its italics.
        let slack = e.parts(Surface::Slack, &Outgoing::text("_note_"), 1000);
        assert_eq!(slack[0].text(), "_note_");
    }

    #[test]
    fn a_mention_of_someone_from_another_surface_is_a_name() {
        let who = Subject::console("alice").unwrap();
        let part = &egress(&[]).parts(Surface::Slack, &Outgoing::text("by ").mention(&who), 100)[0];
        assert_eq!(part.text(), "by alice");
        assert!(part.mentions().is_empty());
    }

    #[test]
    fn parts_respect_the_limit_keep_lines_whole_and_balance_fences() {
        let line = "캐시 적중률 97.3 % — 정상입니다 <&>.";
        let text = format!("```\n{}\n```", vec![line; 500].join("\n"));
        let parts = egress(&[]).parts(Surface::Slack, &Outgoing::text(text), 2000);
        assert!(parts.len() > 1);
        let escaped = "캐시 적중률 97.3 % — 정상입니다 &lt;&amp;&gt;.";
        let mut total = 0;
        for p in &parts {
            assert!(p.chars() <= 2000, "{}", p.chars());
            assert_eq!(p.text().matches("```").count() % 2, 0);
            total += p.text().lines().filter(|l| *l == escaped).count();
        }
        assert_eq!(total, 500, "nothing lost");
    }

    #[test]
    fn an_enormous_line_is_cut_within_the_limit_and_never_inside_an_escape() {
        let text = "<>&".repeat(3000);
        let parts = egress(&[]).parts(Surface::Slack, &Outgoing::text(text), 2900);
        assert!(parts.len() > 1);
        let mut joined = String::new();
        for p in &parts {
            assert!(p.chars() <= 2900);
            assert!(!p.text().ends_with('&') && !p.text().contains("&a&"));
            joined.push_str(p.text());
        }
        assert_eq!(joined, "&lt;&gt;&amp;".repeat(3000));
    }

    #[test]
    fn one_part_is_cut_short_with_a_note() {
        let text = format!("```\n{}\n```", "x".repeat(5000));
        let part = egress(&[]).one(Surface::Discord, &Outgoing::text(text), 1900);
        assert!(part.chars() <= 1900, "{}", part.chars());
        assert_eq!(part.text().matches("```").count() % 2, 0);
        assert!(part.text().contains("…(+"), "{}", part.text());
    }

    #[test]
    fn tables_are_fenced_and_bold_is_slack_bold() {
        let text =
            "**Cache status**\ncache   hit rate\n------  --------\nduckdb  97.3 %\n(sandbox)";
        let part = &egress(&[]).parts(Surface::Slack, &Outgoing::text(text), 3000)[0];
        assert_eq!(
            part.text(),
            "*Cache status*\n```\ncache   hit rate\n------  --------\nduckdb  97.3 %\n```\n(sandbox)"
        );
    }

    #[test]
    fn stored_plain_text_messages_still_read() {
        let old: Outgoing = serde_json::from_str("\"hello\"").unwrap();
        assert_eq!(old, Outgoing::text("hello"));
        let new = Outgoing::text("a").mention(&Subject::slack("T", "U"));
        let back: Outgoing = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }

    // ------------------------------------------------------ property tests

    use crate::text::nasty;
    use proptest::prelude::*;

    /// Text as the splitter keeps it: no whitespace (cuts fall on it) and
    /// no backticks (fences close and reopen across a cut).
    fn kept(text: &str) -> String {
        text.chars()
            .filter(|c| !c.is_whitespace() && *c != '`')
            .collect()
    }

    /// People the bot may mention, on each surface.
    fn someone() -> impl Strategy<Value = Subject> {
        proptest::sample::select(vec![
            Subject::slack("T0123", "U0456ABC"),
            Subject::slack("T0123", "W0789"),
            Subject::discord("1122334455", "539082325061836999"),
            Subject::console("운영자").unwrap(),
        ])
    }

    /// A message: untrusted text with up to three mentions between.
    fn message() -> impl Strategy<Value = Outgoing> {
        let segment = prop_oneof![
            6 => nasty::text().prop_map(Segment::Text),
            1 => someone().prop_map(Segment::Mention),
        ];
        proptest::collection::vec(segment, 0..6).prop_map(|segments| {
            let mut mentions = 0;
            let segments = segments
                .into_iter()
                .filter(|s| {
                    !matches!(s, Segment::Mention(_)) || {
                        mentions += 1;
                        mentions <= 3
                    }
                })
                .collect();
            Outgoing { segments }
        })
    }

    fn surface() -> impl Strategy<Value = Surface> {
        proptest::sample::select(vec![Surface::Slack, Surface::Discord, Surface::Console])
    }

    /// Configured secrets as they come (tokens, keys); never a piece of
    /// the mask itself, which redaction writes.
    fn secret() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_./+=가-힣-]{8,32}".prop_filter("not a piece of the mask", |s| {
            !MASK_TEXT.contains(s.as_str())
        })
    }
    const MASK_TEXT: &str = crate::redact::MASK;

    /// Platform ids the message means to mention on `surface`.
    fn meant(surface: Surface, message: &Outgoing) -> Vec<String> {
        message
            .segments
            .iter()
            .filter_map(|s| match s {
                Segment::Mention(who) => platform_user_id(surface, who),
                _ => None,
            })
            .collect()
    }

    proptest! {
        #![proptest_config(nasty::config())]

        /// Every part within the limit it was cut for (Slack's section, Discord's
        /// message, anything); the parts rejoin to the shaped text but for
        /// whitespace at the cuts and the fences closed and reopened across them;
        /// the terminal gets it whole, in one part.
        #[test]
        fn prop_parts_stay_within_the_limit_and_rejoin_to_the_text(
            message in message(),
            surface in surface(),
            limit in prop_oneof![
                Just(crate::adapters::slack::blocks::SECTION_CHARS),
                Just(crate::adapters::discord::render::MESSAGE_CHARS),
                100..4_000usize,
            ],
        ) {
            let egress = egress(&[]);
            let limit = if surface == Surface::Console { usize::MAX } else { limit };
            let parts = egress.parts(surface, &message, limit);
            prop_assert!(!parts.is_empty());
            for part in &parts {
                prop_assert!(part.chars() <= limit, "{} > {limit}", part.chars());
            }
            if surface == Surface::Console {
                prop_assert_eq!(parts.len(), 1);
            }
            let only_text = message.segments.iter().all(|s| matches!(s, Segment::Text(_)));
            if only_text {
                let (shaped, _) = egress.shape(surface, &message);
                let joined: String = parts.iter().map(Part::text).collect();
                // Nothing but whitespace and backticks may stand as typed, or as "…".
                let empty = kept(&shaped).is_empty() && joined == "…";
                prop_assert!(empty || kept(&joined) == kept(&shaped), "{:?} → {:?}", shaped, joined);
            }
            let one = egress.one(surface, &message, limit.min(100_000));
            prop_assert!(one.chars() <= limit.min(100_000));
        }

        /// Slack: no `<` or `>` but the bot's own mentions, every `&` an entity,
        /// never cut inside one. Discord: no masked link, nobody pinged but who
        /// the bot means. Nowhere a configured secret.
        #[test]
        fn prop_escaping_leaves_no_live_mention_or_link(
            message in message(),
            surface in surface(),
            secret in secret(),
            limit in 100..3_000usize,
        ) {
            let mut message = message;
            message.segments.push(Segment::Text(format!("key {secret}!")));
            let meant = meant(surface, &message);
            let egress = egress(&[secret.as_str()]);
            let mut parts = egress.parts(surface, &message, limit);
            parts.push(egress.one(surface, &message, limit));
            for part in &parts {
                let text = part.text();
                prop_assert!(!text.contains(secret.as_str()), "secret in {}", text);
                prop_assert!(part.mentions().iter().all(|m| meant.contains(m)));
                match surface {
                    Surface::Slack => {
                        let mut rest = text.to_string();
                        for id in part.mentions() {
                            rest = rest.replace(&format!("<@{id}>"), "");
                        }
                        prop_assert!(!rest.contains(['<', '>']), "live markup in {}", text);
                        for (at, _) in rest.match_indices('&') {
                            let entity = ["&amp;", "&lt;", "&gt;"]
                                .iter()
                                .any(|e| rest[at..].starts_with(e));
                            prop_assert!(entity, "bare & in {}", text);
                        }
                    }
                    Surface::Discord => {
                        prop_assert!(!text.contains("]("), "masked link in {}", text);
                    }
                    Surface::Console => prop_assert!(part.mentions().is_empty()),
                }
            }
        }
    }
}
