//! The bot's own vocabulary, shared by every layer: who asked ([`Subject`]),
//! where ([`ChannelId`], thread), in which [`Language`], and the one
//! [`ChatEvent`] every adapter turns its chat surface's events into.
//!
//! "Surface" is the chat product a message came through (Slack, Discord, the
//! terminal); "platform" always means the quant platform (`crate::platform`).
//! Values are parsed once at the edge into these newtypes; nothing past the
//! adapters sees a surface's raw ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The chat surface a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    Console,
    Slack,
    Discord,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Console => "console",
            Surface::Slack => "slack",
            Surface::Discord => "discord",
        }
    }
}

impl fmt::Display for Surface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person, as RBAC sees them: `slack:<team>/<user>`,
/// `discord:<guild>/<user>` or `console:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    pub fn console(name: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!(
                "user name {name:?}: expected 1-64 letters, digits, '.', '_' or '-'"
            ));
        }
        Ok(Self(format!("console:{name}")))
    }

    pub fn slack(team: &str, user: &str) -> Self {
        Self(format!("slack:{team}/{user}"))
    }

    pub fn discord(guild: &str, user: &str) -> Self {
        Self(format!("discord:{guild}/{user}"))
    }

    /// The bot itself, doing scheduled work (`system:<what>`): never an RBAC
    /// subject, only recorded in audit.
    pub fn system(what: &str) -> Self {
        Self(format!("system:{what}"))
    }

    /// A subject read back from the bot's own store (written by one of the
    /// constructors above).
    pub fn parse(stored: &str) -> Result<Self, String> {
        let subject = Self(stored.to_string());
        match subject.surface() {
            Some(_) if !stored.ends_with(':') => Ok(subject),
            _ => Err(format!("{stored:?} is not a subject")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Slack team or Discord guild (`dm` for Discord direct messages)
    /// of a chat subject; `None` for console and system subjects.
    pub fn workspace(&self) -> Option<&str> {
        let (surface, rest) = self.0.split_once(':')?;
        match surface {
            "slack" | "discord" => rest.split_once('/').map(|(workspace, _)| workspace),
            _ => None,
        }
    }

    pub fn surface(&self) -> Option<Surface> {
        match self.0.split_once(':')?.0 {
            "console" => Some(Surface::Console),
            "slack" => Some(Surface::Slack),
            "discord" => Some(Surface::Discord),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A channel: `console:<name>`, `slack:<channel id>`, `discord:<channel id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelId(String);

impl ChannelId {
    pub fn new(surface: Surface, id: &str) -> Result<Self, String> {
        let id = id.trim().trim_start_matches('#');
        if id.is_empty()
            || id.len() > 80
            || !id
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!(
                "channel {id:?}: expected 1-80 letters, digits, '.', '_' or '-'"
            ));
        }
        Ok(Self(format!("{}:{id}", surface.as_str())))
    }

    /// A channel id read back from the bot's own store.
    pub fn parse(stored: &str) -> Result<Self, String> {
        let (platform, id) = stored
            .split_once(':')
            .ok_or_else(|| format!("{stored:?} is not a channel id"))?;
        let platform = match platform {
            "console" => Surface::Console,
            "slack" => Surface::Slack,
            "discord" => Surface::Discord,
            other => return Err(format!("unknown platform {other:?}")),
        };
        Self::new(platform, id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn surface(&self) -> Surface {
        match self.0.split_once(':').map(|(p, _)| p) {
            Some("slack") => Surface::Slack,
            Some("discord") => Surface::Discord,
            _ => Surface::Console,
        }
    }

    /// The platform-local part (after `platform:`).
    pub fn local(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(_, id)| id)
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Words that only an English sentence has (see [`Language::detect`]).
const ENGLISH_GRAMMAR_WORDS: &[&str] = &[
    "the", "a", "an", "for", "and", "or", "with", "on", "of", "in", "to", "from", "me", "my",
    "show", "what", "which", "why", "how", "is", "are", "was", "were", "did", "does", "do", "run",
    "give", "tell", "please", "only", "last", "this", "any", "about", "can", "you", "i", "it",
    "its", "it's", "what's", "there", "than", "better",
];

/// The language of a message and of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Ko,
}

impl Language {
    /// Korean when the text has any Hangul syllable or jamo, English otherwise.
    /// Ops people mix in English terms ("DuckDB 캐시 적중률", "cache status
    /// 알려줘"), so one Hangul word is enough — unless the sentence is an
    /// English one that names something in Korean ("data quality for 애플
    /// and 삼성전자"): two or more English grammar words, and more English
    /// words than Hangul ones.
    pub fn detect(text: &str) -> Self {
        let is_hangul =
            |c: char| matches!(c as u32, 0xAC00..=0xD7A3 | 0x1100..=0x11FF | 0x3130..=0x318F);
        if !text.chars().any(is_hangul) {
            return Language::En;
        }
        let (mut hangul_words, mut english_words, mut grammar_words) = (0usize, 0usize, 0usize);
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
            if word.chars().any(is_hangul) {
                hangul_words += 1;
            } else if word.chars().any(|c| c.is_ascii_lowercase())
                && word.chars().all(|c| c.is_ascii_alphabetic() || c == '\'')
            {
                english_words += 1;
                if ENGLISH_GRAMMAR_WORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    grammar_words += 1;
                }
            }
        }
        if grammar_words >= 2 && english_words > hangul_words {
            Language::En
        } else {
            Language::Ko
        }
    }

    /// The language to answer `text` in: the one the person asks for ("reply
    /// in Korean", "영어로 답해줘"); else the message's own; else — a message
    /// with no words of either language (a backtest id, tickers, a number
    /// answering the bot's question) — the conversation's, `earlier` being
    /// its previous messages, oldest first.
    pub fn for_reply<'a>(text: &str, earlier: impl DoubleEndedIterator<Item = &'a str>) -> Self {
        if let Some(asked) = Self::asked_for(text) {
            return asked;
        }
        if Self::has_words(text) {
            return Self::detect(text);
        }
        earlier
            .rev()
            .find(|t| Self::has_words(t))
            .map_or_else(|| Self::detect(text), Self::detect)
    }

    fn asked_for(text: &str) -> Option<Self> {
        static ASKED: std::sync::LazyLock<[(Language, regex::Regex); 2]> =
            std::sync::LazyLock::new(|| {
                let re = |p: &str| regex::Regex::new(p).expect("language request pattern");
                [
                    (Language::En, re(r"(?i)\b(?:in|into) english\b|영어로")),
                    (
                        Language::Ko,
                        re(r"(?i)\b(?:in|into) korean\b|한국어로|한글로"),
                    ),
                ]
            });
        ASKED
            .iter()
            .find(|(_, re)| re.is_match(text))
            .map(|(lang, _)| *lang)
    }

    /// Hangul, or an English word: three or more letters with a lower-case
    /// one, not a run of hex digits (tickers and ids are not words).
    fn has_words(text: &str) -> bool {
        Self::detect(text) == Language::Ko
            || text.split(|c: char| !c.is_ascii_alphabetic()).any(|w| {
                w.len() >= 3
                    && w.chars().any(|c| c.is_ascii_lowercase())
                    && !w.chars().all(|c| c.is_ascii_hexdigit())
            })
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ko => "ko",
        }
    }
}

/// Request id carried by every log line and audit record of one event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// A request id read back from the bot's own store.
    pub fn from_stored(id: &str) -> Self {
        Self(id.to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is asking, as far as authorization is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: Subject,
    /// Platform groups/roles of the subject (`slack-group:S123`, `discord-role:42`).
    pub groups: Vec<String>,
    pub channel: ChannelId,
}

/// One incoming message, whatever platform it came from.
#[derive(Debug, Clone)]
pub struct ChatEvent {
    pub request_id: RequestId,
    pub surface: Surface,
    /// The surface's own id of this delivery, for deduplication.
    pub event_id: Option<String>,
    pub caller: Caller,
    /// Thread (Slack thread_ts, Discord thread/reply chain); `None` for the channel itself.
    pub thread: Option<String>,
    pub text: String,
}

impl ChatEvent {
    /// The session this message belongs to: one per (platform, channel, thread, user).
    pub fn session_key(&self) -> SessionKey {
        SessionKey {
            surface: self.surface,
            channel: self.caller.channel.clone(),
            thread: self.thread.clone(),
            subject: self.caller.subject.clone(),
        }
    }
}

/// Identity of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub surface: Surface,
    pub channel: ChannelId,
    pub thread: Option<String>,
    pub subject: Subject,
}

impl SessionKey {
    /// Stable string id (`chat_sessions.session_id`).
    pub fn session_id(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.surface,
            self.channel,
            self.thread.as_deref().unwrap_or("-"),
            self.subject
        )
    }
}

/// Roles, ordered: none < viewer < operator < admin. `none` grants
/// nothing: as `default_role` it leaves the bot to people bound to a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[serde(rename = "none")]
    NoAccess,
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::NoAccess => "none",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Role::NoAccess),
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "expected none, viewer, operator or admin, got {other:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_message() {
        assert_eq!(Language::detect("현재 DuckDB 캐시 적중률은?"), Language::Ko);
        assert_eq!(
            Language::detect("is alpha vantage rate limited?"),
            Language::En
        );
        assert_eq!(Language::detect("ㅇㅋ"), Language::Ko);
        assert_eq!(Language::detect("cache status 알려줘"), Language::Ko);
        assert_eq!(Language::detect("RSI로 애플 백테스트 돌려줘"), Language::Ko);
        assert_eq!(Language::detect("data quality 이슈 있어?"), Language::Ko);
        assert_eq!(
            Language::detect("show me data quality problems for 애플 and 삼성전자, critical only"),
            Language::En
        );
        assert_eq!(
            Language::detect("run bolinger on 삼성전자 with 1억 원"),
            Language::En
        );
        assert_eq!(Language::detect(""), Language::En);
    }

    #[test]
    fn reply_language_follows_a_request_then_the_message_then_the_conversation() {
        let none = std::iter::empty::<&str>;
        assert_eq!(
            Language::for_reply("check the cache, reply in Korean pls", none()),
            Language::Ko
        );
        assert_eq!(
            Language::for_reply("영어로 답해줘: 알파밴티지 상태", none()),
            Language::En
        );
        let korean = ["백테스트 상태 확인해줘"];
        assert_eq!(
            Language::for_reply("66f1a2b3c4d5e6f708192a3b", korean.into_iter()),
            Language::Ko
        );
        assert_eq!(
            Language::for_reply("AAPL, NVDA", korean.into_iter()),
            Language::Ko
        );
        assert_eq!(
            Language::for_reply("AAPL and NVDA", korean.into_iter()),
            Language::En
        );
        assert_eq!(
            Language::for_reply("AAPL, NVDA", ["run RSI", "백테스트"].into_iter()),
            Language::Ko
        );
        assert_eq!(Language::for_reply("AAPL, NVDA", none()), Language::En);
    }

    #[test]
    fn identities_are_validated_at_the_edge() {
        assert_eq!(Subject::console("alice").unwrap().as_str(), "console:alice");
        assert!(Subject::console("").is_err());
        assert!(Subject::console("a b").is_err());
        assert_eq!(
            ChannelId::new(Surface::Console, "#ops").unwrap().as_str(),
            "console:ops"
        );
        assert!(ChannelId::new(Surface::Console, "o/ps").is_err());
        assert_eq!(Subject::slack("T1", "U2").surface(), Some(Surface::Slack));
    }

    #[test]
    fn subjects_know_their_platform() {
        assert_eq!(Subject::system("digest:am").surface(), None);
        let channel = ChannelId::parse("discord:1234").unwrap();
        assert_eq!(
            (channel.surface(), channel.local()),
            (Surface::Discord, "1234")
        );
    }
}
