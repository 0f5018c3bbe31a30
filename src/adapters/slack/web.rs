//! Outbound Slack: the Web API through slack-morphism's client (rate control
//! per Slack's tiers and the 1-message-per-second-per-channel limit of
//! chat.postMessage; 429 answers retried after their Retry-After) and
//! `response_url` posts for slash commands. Transient failures are retried
//! with backoff; a message that still cannot be delivered is logged as an
//! error with its channel, never dropped silently.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::blocks::Rendered;

pub type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

/// Attempts for an outbound call that fails for a reason other than a 429
/// (slack-morphism retries those itself, after Retry-After).
const ATTEMPTS: u32 = 3;

/// The bot's identity in the workspace (`auth.test`).
#[derive(Debug, Clone, PartialEq)]
pub struct BotIdentity {
    pub user_id: String,
    pub team_id: String,
}

/// A Slack Web API failure, for logs.
#[derive(Debug, thiserror::Error)]
#[error("Slack {method}: {message}")]
pub struct SlackWebError {
    pub method: &'static str,
    pub message: String,
}

#[derive(Clone)]
pub struct SlackWeb {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    http: reqwest::Client,
}

impl SlackWeb {
    /// `api_url` overrides `https://slack.com/api` (proxies and tests; plain
    /// http is allowed there).
    pub fn new(bot_token: &str, api_url: Option<&str>) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        let mut connector = SlackClientHyperConnector::with_connector(https).with_rate_control(
            SlackApiRateControlConfig::new()
                .with_max_retries(3)
                .with_max_delay_timeout(Duration::from_secs(60)),
        );
        if let Some(url) = api_url {
            connector = connector.with_slack_api_url(url.trim_end_matches('/'));
        }
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(bot_token.to_string().into()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    /// The slack-morphism client (Socket Mode runs on it).
    pub fn client(&self) -> Arc<SlackClient<Connector>> {
        self.client.clone()
    }

    /// Retry `call` on failures other than rate limits (handled inside the client).
    async fn retry<T, F, Fut>(&self, method: &'static str, call: F) -> Result<T, SlackWebError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = ClientResult<T>>,
    {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            let error = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            // Only transport failures and 5xx are worth another try; Slack's
            // own "no" (channel_not_found…) and unreadable answers are not.
            let transient = match &error {
                SlackClientError::HttpError(e) => e.status_code.is_server_error(),
                SlackClientError::HttpProtocolError(_) | SlackClientError::EndOfStream(_) => true,
                _ => false,
            };
            let message = match &error {
                SlackClientError::ApiError(e) => e.code.clone(),
                other => other.to_string(),
            };
            if !transient {
                return Err(SlackWebError { method, message });
            }
            tracing::warn!(method, attempt, error = %message, "Slack call failed; retrying");
            last = message;
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
        }
        Err(SlackWebError {
            method,
            message: last,
        })
    }

    pub async fn auth_test(&self) -> Result<BotIdentity, SlackWebError> {
        let r = self
            .retry("auth.test", || async {
                self.client.open_session(&self.token).auth_test().await
            })
            .await?;
        Ok(BotIdentity {
            user_id: r.user_id.to_string(),
            team_id: r.team_id.to_string(),
        })
    }

    fn content(rendered: &Rendered) -> SlackMessageContent {
        let blocks: Option<Vec<SlackBlock>> = serde_json::from_value(Value::Array(
            rendered.blocks().to_vec(),
        ))
        .map_err(
            |e| tracing::error!(error = %e, "Block Kit blocks do not parse; sending text only"),
        )
        .ok();
        SlackMessageContent::new()
            .with_text(rendered.text().to_string())
            .opt_blocks(blocks.filter(|b| !b.is_empty()))
    }

    /// chat.postMessage; returns the message's ts.
    pub async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        rendered: &Rendered,
    ) -> Result<String, SlackWebError> {
        let request = SlackApiChatPostMessageRequest::new(channel.into(), Self::content(rendered))
            .opt_thread_ts(thread_ts.map(|t| t.into()));
        let r = self
            .retry("chat.postMessage", || async {
                self.client
                    .open_session(&self.token)
                    .chat_post_message(&request)
                    .await
            })
            .await?;
        Ok(r.ts.to_string())
    }

    /// chat.postMessage without this client's own retries (slack-morphism
    /// still waits out a 429's Retry-After): the outbox decides about retries.
    pub async fn post_once(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        rendered: &Rendered,
    ) -> ClientResult<String> {
        let request = SlackApiChatPostMessageRequest::new(channel.into(), Self::content(rendered))
            .opt_thread_ts(thread_ts.map(|t| t.into()));
        let r = self
            .client
            .open_session(&self.token)
            .chat_post_message(&request)
            .await?;
        Ok(r.ts.to_string())
    }

    /// chat.update of a message the bot posted.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        rendered: &Rendered,
    ) -> Result<(), SlackWebError> {
        let request =
            SlackApiChatUpdateRequest::new(channel.into(), Self::content(rendered), ts.into());
        self.retry("chat.update", || async {
            self.client
                .open_session(&self.token)
                .chat_update(&request)
                .await
        })
        .await
        .map(|_| ())
    }

    /// chat.update without this client's own retries (slack-morphism still
    /// waits out a 429's Retry-After): the job decides about retries.
    pub async fn update_once(
        &self,
        channel: &str,
        ts: &str,
        rendered: &Rendered,
    ) -> ClientResult<()> {
        let request =
            SlackApiChatUpdateRequest::new(channel.into(), Self::content(rendered), ts.into());
        self.client
            .open_session(&self.token)
            .chat_update(&request)
            .await
            .map(|_| ())
    }

    /// reactions.add; "already_reacted" counts as done.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackWebError> {
        let request = SlackApiReactionsAddRequest::new(channel.into(), name.into(), ts.into());
        match self
            .retry("reactions.add", || async {
                self.client
                    .open_session(&self.token)
                    .reactions_add(&request)
                    .await
            })
            .await
        {
            Err(e) if e.message == "already_reacted" => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// reactions.remove; "no_reaction" counts as done.
    pub async fn unreact(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackWebError> {
        let request = SlackApiReactionsRemoveRequest::new(name.into())
            .with_channel(channel.into())
            .with_timestamp(ts.into());
        match self
            .retry("reactions.remove", || async {
                self.client
                    .open_session(&self.token)
                    .reactions_remove(&request)
                    .await
            })
            .await
        {
            Err(e) if e.message == "no_reaction" => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The user groups each user belongs to (`usergroups.list` with users),
    /// as `slack-group:<id>` subjects for RBAC bindings.
    pub async fn user_groups(&self) -> Result<Vec<(String, Vec<String>)>, SlackWebError> {
        let request = SlackApiUserGroupsListRequest::new().with_include_users(true);
        let r = self
            .retry("usergroups.list", || async {
                self.client
                    .open_session(&self.token)
                    .usergroups_list(&request)
                    .await
            })
            .await?;
        Ok(r.usergroups
            .into_iter()
            .map(|g| {
                let users = g
                    .users
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| u.to_string())
                    .collect();
                (format!("slack-group:{}", g.id), users)
            })
            .collect())
    }

    /// POST to a slash command's `response_url` (in the channel or only to the caller).
    pub async fn respond(
        &self,
        response_url: &str,
        in_channel: bool,
        rendered: &Rendered,
    ) -> Result<(), SlackWebError> {
        let body = json!({
            "response_type": if in_channel { "in_channel" } else { "ephemeral" },
            // A click's response_url would otherwise be free to replace the message clicked.
            "replace_original": false,
            "text": rendered.text(),
            "blocks": rendered.blocks(),
        });
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            match self.http.post(response_url).json(&body).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().as_u16() == 429 => {
                    let wait = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1);
                    last = "HTTP 429".into();
                    tokio::time::sleep(Duration::from_secs(wait.min(30))).await;
                }
                Ok(r) if r.status().is_client_error() => {
                    return Err(SlackWebError {
                        method: "response_url",
                        message: format!("HTTP {}", r.status().as_u16()),
                    });
                }
                Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
                Err(e) => last = e.without_url().to_string(),
            }
            tracing::warn!(attempt, error = %last, "response_url post failed; retrying");
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
        }
        Err(SlackWebError {
            method: "response_url",
            message: last,
        })
    }
}
