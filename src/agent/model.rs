//! The model interface the agent loop talks to. Two implementations: the
//! OpenAI-compatible client (`llm.rs`) and the offline planner
//! (`offline.rs`). Tests drive the loop through the real HTTP client against a
//! scripted server, or through any other implementation of [`ChatModel`].

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::Language;
use crate::tools::call::ToolCallRequest;
use crate::tools::call::ToolSpec;

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    System(String),
    User(String),
    Assistant {
        content: Option<String>,
        tool_calls: Vec<ToolCallRequest>,
    },
    /// An answer of an earlier turn, replayed from the session. It may quote
    /// platform data (an error message, a strategy name), so it is data, not
    /// trusted text: the meter sends it as the assistant's turn, fenced.
    EarlierAnswer(String),
    /// A tool's result. `content` goes to the model; `display` is the human
    /// rendering, used by the offline planner.
    Tool {
        call_id: String,
        name: String,
        content: String,
        display: String,
    },
}

/// Token counts of one call (or summed over a turn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// What the model is asked.
#[derive(Debug, Clone, Copy)]
pub struct ModelRequest<'a> {
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    /// The language of the user's message (the offline planner answers in it).
    pub language: Language,
    /// The model to ask (a client serving several models uses it; the
    /// offline planner ignores it).
    pub model: &'a str,
}

/// What the model answered: text, tool calls, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCallRequest>,
    pub usage: Usage,
    /// The model that answered, as the server reports it.
    pub model: String,
    /// The server stopped the answer at the model's length limit
    /// (`finish_reason: "length"`): the text is not the whole answer.
    pub cut_off: bool,
}

impl ModelReply {
    /// Neither text (none, or only whitespace) nor a tool call: the model
    /// returned nothing.
    pub fn is_empty(&self) -> bool {
        self.tool_calls.is_empty() && self.content.as_deref().is_none_or(|c| c.trim().is_empty())
    }
}

/// Why a model call failed, after retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelErrorKind {
    RateLimited,
    QuotaExceeded,
    Unauthorized,
    Timeout,
    Server,
    Transport,
    BadResponse,
    BadRequest,
    /// Not asked: the daily token budget is used up.
    OverBudget,
    /// Answered with nothing: no text and no tool call.
    EmptyAnswer,
}

impl ModelErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelErrorKind::RateLimited => "rate_limited",
            ModelErrorKind::QuotaExceeded => "quota_exceeded",
            ModelErrorKind::Unauthorized => "unauthorized",
            ModelErrorKind::Timeout => "timeout",
            ModelErrorKind::Server => "server_error",
            ModelErrorKind::Transport => "transport",
            ModelErrorKind::BadResponse => "bad_response",
            ModelErrorKind::BadRequest => "bad_request",
            ModelErrorKind::OverBudget => "over_budget",
            ModelErrorKind::EmptyAnswer => "empty_answer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("LLM {}: {message}", kind.as_str())]
pub struct ModelError {
    pub kind: ModelErrorKind,
    /// Operator-facing detail (redacted before it is logged or audited).
    pub message: String,
}

impl ModelError {
    /// What an empty reply ([`ModelReply::is_empty`]) counts as.
    pub fn empty_answer() -> Self {
        ModelError {
            kind: ModelErrorKind::EmptyAnswer,
            message: "the model returned nothing: no text and no tool call".into(),
        }
    }
}

#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The configured model name.
    fn id(&self) -> &str;
    async fn complete(&self, request: ModelRequest<'_>) -> Result<ModelReply, ModelError>;
}
