//! The OpenAI-compatible chat-completions client (OpenAI, Azure OpenAI,
//! Ollama, vLLM, llama.cpp server), through async-openai.
//!
//! Retries: async-openai's retry layer retries 429 rate limits and 5xx with
//! exponential backoff and honours `Retry-After`; `insufficient_quota` and 401
//! are returned at once. The whole call, retries included, is bounded by
//! `agent.llm_call_timeout_secs`. Responses are parsed leniently: servers that
//! omit `id`, `usage` or `created` still work.
//!
//! Invariant: this is the only file that imports async-openai.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequest, FunctionCall, FunctionObject,
};
use async_trait::async_trait;
use serde::Deserialize;
use tower::Layer;

use super::model::{
    ChatModel, Message, ModelError, ModelErrorKind, ModelReply, ModelRequest, Usage,
};
use crate::config::{AuthHeader, LlmSettings};
use crate::tools::call::ToolCallRequest;

/// A chat model behind an OpenAI-compatible HTTP API.
pub struct OpenAiModel {
    client: Client<OpenAIConfig>,
    model: String,
    temperature: f32,
    timeout: Duration,
}

impl OpenAiModel {
    pub fn new(settings: &LlmSettings, timeout: Duration) -> anyhow::Result<Self> {
        let key = settings
            .api_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .unwrap_or_default();
        let mut config = OpenAIConfig::new()
            .with_api_base(settings.effective_base_url().trim_end_matches('/'))
            .with_api_key(match settings.auth_header {
                AuthHeader::Bearer => key.clone(),
                AuthHeader::ApiKey => String::new(),
            });
        if settings.auth_header == AuthHeader::ApiKey {
            config = config.with_header("api-key", key.as_str())?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()?;
        let service = OpenAIRetryLayer::new(settings.max_retries).layer(ReqwestService::new(http));
        Ok(Self {
            client: Client::with_config(config).with_http_service(service),
            model: settings.model.clone(),
            temperature: settings.temperature,
            timeout,
        })
    }

    /// `GET /models`: does the server answer and accept the key? For `chatops check`.
    pub async fn probe(&self) -> Result<(), ModelError> {
        tokio::time::timeout(self.timeout, self.client.models().list())
            .await
            .map_err(|_| timeout_error(self.timeout))?
            .map(|_| ())
            .map_err(classify)
    }

    fn request(&self, req: &ModelRequest<'_>) -> CreateChatCompletionRequest {
        let messages = req.messages.iter().map(to_openai_message).collect();
        let tools: Vec<ChatCompletionTools> = req
            .tools
            .iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.clone(),
                        description: Some(t.description.clone()),
                        parameters: Some(t.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect();
        CreateChatCompletionRequest {
            model: req.model.to_string(),
            messages,
            tools: (!tools.is_empty()).then_some(tools),
            temperature: Some(self.temperature),
            ..Default::default()
        }
    }
}

fn to_openai_message(m: &Message) -> ChatCompletionRequestMessage {
    match m {
        Message::System(text) => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: text.clone().into(),
                name: None,
            })
        }
        // The meter has fenced it into an assistant message already; unfenced
        // it would still be the assistant's turn.
        Message::EarlierAnswer(text) => to_openai_message(&Message::Assistant {
            content: Some(text.clone()),
            tool_calls: vec![],
        }),
        Message::User(text) => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: text.clone().into(),
                name: None,
            })
        }
        Message::Assistant {
            content,
            tool_calls,
        } => {
            #[allow(deprecated)]
            let message = ChatCompletionRequestAssistantMessage {
                content: content
                    .clone()
                    .map(ChatCompletionRequestAssistantMessageContent::Text),
                tool_calls: (!tool_calls.is_empty()).then(|| {
                    tool_calls
                        .iter()
                        .map(|c| {
                            ChatCompletionMessageToolCalls::Function(
                                ChatCompletionMessageToolCall {
                                    id: c.call_id.clone(),
                                    function: FunctionCall {
                                        name: c.name.clone(),
                                        arguments: c.arguments.clone(),
                                    },
                                },
                            )
                        })
                        .collect()
                }),
                ..Default::default()
            };
            ChatCompletionRequestMessage::Assistant(message)
        }
        Message::Tool {
            call_id, content, ..
        } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
            tool_call_id: call_id.clone(),
        }),
    }
}

/// The response, parsed leniently (servers differ in what they omit).
#[derive(Debug, Deserialize)]
struct LenientResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<LenientChoice>,
    #[serde(default)]
    usage: Option<LenientUsage>,
}

#[derive(Debug, Deserialize)]
struct LenientChoice {
    message: LenientMessage,
    /// `stop`, `tool_calls`, `length` (cut at the length limit)…; some
    /// servers send none.
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LenientMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<LenientToolCall>,
}

#[derive(Debug, Deserialize)]
struct LenientToolCall {
    #[serde(default)]
    id: Option<String>,
    function: LenientFunction,
}

#[derive(Debug, Deserialize)]
struct LenientFunction {
    name: String,
    /// Usually a JSON string; some servers send an object.
    #[serde(default)]
    arguments: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct LenientUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    #[serde(default)]
    total_tokens: u32,
}

fn timeout_error(timeout: Duration) -> ModelError {
    ModelError {
        kind: ModelErrorKind::Timeout,
        message: format!("no answer within {} s", timeout.as_secs()),
    }
}

/// Map async-openai's error to a kind the agent and audit understand.
fn classify(e: OpenAIError) -> ModelError {
    let (kind, message) = match &e {
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let code = api.api_error.code.as_deref().unwrap_or_default();
            let kind_ = api.api_error.r#type.as_deref().unwrap_or_default();
            let kind = match status {
                401 | 403 => ModelErrorKind::Unauthorized,
                429 if code == "insufficient_quota" || kind_ == "insufficient_quota" => {
                    ModelErrorKind::QuotaExceeded
                }
                429 => ModelErrorKind::RateLimited,
                500..=599 => ModelErrorKind::Server,
                _ => ModelErrorKind::BadRequest,
            };
            let message = crate::text::prefix_bytes(&api.api_error.message, 300);
            (kind, format!("HTTP {status}: {message}"))
        }
        OpenAIError::Reqwest(r) if r.is_timeout() => (ModelErrorKind::Timeout, r.to_string()),
        OpenAIError::Reqwest(r) => (ModelErrorKind::Transport, r.to_string()),
        OpenAIError::JSONDeserialize(err, _) => (ModelErrorKind::BadResponse, err.to_string()),
        other => (ModelErrorKind::BadRequest, other.to_string()),
    };
    ModelError { kind, message }
}

#[async_trait]
impl ChatModel for OpenAiModel {
    fn id(&self) -> &str {
        &self.model
    }

    async fn complete(&self, req: ModelRequest<'_>) -> Result<ModelReply, ModelError> {
        let request = self.request(&req);
        let chat = self.client.chat();
        let call = chat.create_byot::<_, LenientResponse>(request);
        let response = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| timeout_error(self.timeout))?
            .map_err(classify)?;
        let Some(choice) = response.choices.into_iter().next() else {
            return Err(ModelError {
                kind: ModelErrorKind::BadResponse,
                message: "the response has no choices".into(),
            });
        };
        let tool_calls = choice
            .message
            .tool_calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| ToolCallRequest {
                call_id: c.id.unwrap_or_else(|| format!("call_{i}")),
                name: c.function.name,
                arguments: match c.function.arguments {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                },
            })
            .collect();
        let usage = response
            .usage
            .map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: if u.total_tokens > 0 {
                    u.total_tokens
                } else {
                    u.prompt_tokens + u.completion_tokens
                },
            })
            .unwrap_or_default();
        // "max_tokens": what a few OpenAI-compatible proxies say instead.
        let cut_off = matches!(
            choice.finish_reason.as_deref(),
            Some("length" | "max_tokens")
        );
        Ok(ModelReply {
            content: choice.message.content.filter(|c| !c.trim().is_empty()),
            tool_calls,
            usage,
            model: response.model.unwrap_or_else(|| req.model.to_string()),
            cut_off,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_openai::error::{ApiError, ApiErrorResponse};

    /// Issue 17: an error text whose byte 300 falls inside a Korean
    /// character panicked in `String::truncate(300)`.
    #[test]
    fn a_long_korean_server_error_is_cut_between_characters() {
        let text = format!("a{}", "서버 오류가 발생했습니다 ".repeat(40));
        assert!(!text.is_char_boundary(300));
        let error = classify(OpenAIError::ApiError(ApiErrorResponse {
            status_code: reqwest::StatusCode::INTERNAL_SERVER_ERROR,
            api_error: ApiError {
                message: text.clone(),
                r#type: None,
                param: None,
                code: None,
                misalignment: None,
            },
        }));
        assert!(matches!(error.kind, ModelErrorKind::Server));
        let told = error.message.strip_prefix("HTTP 500: ").unwrap();
        assert!(told.len() <= 300 && told.len() > 296, "{}", told.len());
        assert!(text.starts_with(told));
    }
}
