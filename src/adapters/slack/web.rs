//! Outbound Slack: the Web API through slack-morphism's client, and
//! `response_url` posts for slash commands. Every Web API call waits for
//! [`SlackThrottle`] first (chat.postMessage per channel, other methods per
//! their tier) and reports a 429 to it, so its Retry-After holds for the next
//! call too; slack-morphism's own rate control is off (it paces
//! chat.postMessage for the whole process, not per channel). Transient
//! failures and 429s are retried; a message that still cannot be delivered
//! is logged as an error with its channel, never dropped silently. The
//! `*_once` calls are the outbox's: no retries here, a 429 goes back to it.

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::blocks::Rendered;
use super::throttle::{SlackMethod, SlackThrottle};

pub type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

/// Attempts for an outbound call that fails for a reason other than a 429.
const ATTEMPTS: u32 = 3;
/// Retries of a call Slack answered 429 (each after its Retry-After).
const RATE_LIMITED_RETRIES: u32 = 3;
/// The error of a call skipped because its limit was spent.
const SKIPPED: &str = "skipped: rate limit spent";

/// What a call does when its rate limit is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenSpent {
    /// Wait its turn (messages).
    Wait,
    /// Not go at all (reactions: decoration, not worth holding an answer up).
    Skip,
}

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
    throttle: Arc<SlackThrottle>,
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
        // No slack-morphism rate control: SlackThrottle paces and retries.
        let mut connector = SlackClientHyperConnector::with_connector(https);
        if let Some(url) = api_url {
            connector = connector.with_slack_api_url(url.trim_end_matches('/'));
        }
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(bot_token.to_string().into()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            throttle: Arc::new(SlackThrottle::new()),
        })
    }

    /// The slack-morphism client (Socket Mode runs on it).
    pub fn client(&self) -> Arc<SlackClient<Connector>> {
        self.client.clone()
    }

    /// `call` once the throttle lets it go (for chat.postMessage: in
    /// `channel`); a 429 pauses it there for its Retry-After.
    async fn once<T, Fut>(&self, method: SlackMethod, channel: &str, call: Fut) -> ClientResult<T>
    where
        Fut: std::future::Future<Output = ClientResult<T>>,
    {
        self.throttle.wait(method, channel).await;
        let result = call.await;
        if let Err(SlackClientError::RateLimitError(e)) = &result {
            self.throttle.rate_limited(method, channel, e.retry_after);
        }
        result
    }

    /// `call` when the throttle lets it go — for chat.postMessage in
    /// `channel` — retried after a 429 (its Retry-After, up to
    /// [`RATE_LIMITED_RETRIES`] times) and on transient failures (backoff,
    /// [`ATTEMPTS`] in all). What a spent limit means is `when_spent`'s.
    async fn retry<T, F, Fut>(
        &self,
        method: SlackMethod,
        channel: &str,
        when_spent: WhenSpent,
        call: F,
    ) -> Result<T, SlackWebError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = ClientResult<T>>,
    {
        let name = method.name();
        let mut last = String::new();
        let mut limited = 0;
        let mut attempt = 0;
        while attempt < ATTEMPTS {
            match when_spent {
                WhenSpent::Wait => self.throttle.wait(method, channel).await,
                WhenSpent::Skip if self.throttle.try_now(method, channel) => {}
                WhenSpent::Skip => {
                    tracing::debug!(method = name, channel, "Slack rate limit spent; skipped");
                    return Err(SlackWebError {
                        method: name,
                        message: SKIPPED.into(),
                    });
                }
            }
            let error = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if let SlackClientError::RateLimitError(e) = &error {
                self.throttle.rate_limited(method, channel, e.retry_after);
                limited += 1;
                if limited > RATE_LIMITED_RETRIES {
                    return Err(SlackWebError {
                        method: name,
                        message: format!("rate limited (HTTP 429) {limited} times"),
                    });
                }
                tracing::warn!(method = name, channel, retry_after = ?e.retry_after,
                    "Slack rate limit (HTTP 429); retrying after Retry-After");
                continue; // the throttle waits out Retry-After
            }
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
                return Err(SlackWebError {
                    method: name,
                    message,
                });
            }
            tracing::warn!(method = name, attempt, error = %message, "Slack call failed; retrying");
            last = message;
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
            attempt += 1;
        }
        Err(SlackWebError {
            method: name,
            message: last,
        })
    }

    pub async fn auth_test(&self) -> Result<BotIdentity, SlackWebError> {
        let r = self
            .retry(SlackMethod::AuthTest, "", WhenSpent::Wait, || async {
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
            .retry(
                SlackMethod::PostMessage,
                channel,
                WhenSpent::Wait,
                || async {
                    self.client
                        .open_session(&self.token)
                        .chat_post_message(&request)
                        .await
                },
            )
            .await?;
        Ok(r.ts.to_string())
    }

    /// chat.postMessage, throttled, without retries (a 429 comes back at
    /// once, with its Retry-After): the outbox decides about retries.
    pub async fn post_once(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        rendered: &Rendered,
    ) -> ClientResult<String> {
        let request = SlackApiChatPostMessageRequest::new(channel.into(), Self::content(rendered))
            .opt_thread_ts(thread_ts.map(|t| t.into()));
        let session = self.client.open_session(&self.token);
        let r = self
            .once(
                SlackMethod::PostMessage,
                channel,
                session.chat_post_message(&request),
            )
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
        self.retry(SlackMethod::Update, channel, WhenSpent::Wait, || async {
            self.client
                .open_session(&self.token)
                .chat_update(&request)
                .await
        })
        .await
        .map(|_| ())
    }

    /// chat.update, throttled, without retries (a 429 comes back at once):
    /// the job decides about retries.
    pub async fn update_once(
        &self,
        channel: &str,
        ts: &str,
        rendered: &Rendered,
    ) -> ClientResult<()> {
        let request =
            SlackApiChatUpdateRequest::new(channel.into(), Self::content(rendered), ts.into());
        let session = self.client.open_session(&self.token);
        self.once(SlackMethod::Update, channel, session.chat_update(&request))
            .await
            .map(|_| ())
    }

    /// reactions.add; "already_reacted" counts as done; skipped when the
    /// method's limit is spent.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackWebError> {
        let request = SlackApiReactionsAddRequest::new(channel.into(), name.into(), ts.into());
        match self
            .retry(
                SlackMethod::ReactionsAdd,
                channel,
                WhenSpent::Skip,
                || async {
                    self.client
                        .open_session(&self.token)
                        .reactions_add(&request)
                        .await
                },
            )
            .await
        {
            Err(e) if e.message == "already_reacted" => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// reactions.remove; "no_reaction" counts as done; skipped when the
    /// method's limit is spent.
    pub async fn unreact(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackWebError> {
        let request = SlackApiReactionsRemoveRequest::new(name.into())
            .with_channel(channel.into())
            .with_timestamp(ts.into());
        match self
            .retry(
                SlackMethod::ReactionsRemove,
                channel,
                WhenSpent::Skip,
                || async {
                    self.client
                        .open_session(&self.token)
                        .reactions_remove(&request)
                        .await
                },
            )
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
            .retry(SlackMethod::UserGroupsList, "", WhenSpent::Wait, || async {
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
