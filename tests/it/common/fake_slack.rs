//! A fake Slack at the process edge, in Slack's wire formats: the Web API
//! (chat.postMessage, chat.update, reactions, usergroups.list, auth.test,
//! apps.connections.open) and response_url endpoints, recording every call
//! (when it came, what it answered), with failures on demand (HTTP 500, 429 with
//! Retry-After, a post that never gets an answer, a channel that is gone, a message that is gone, a token
//! auth.test refuses). Plus a client that sends signed requests to a bot's
//! HTTP server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const BOT_TOKEN: &str = "xoxb-test-token-123456";
pub const APP_TOKEN: &str = "xapp-1-A111-222-abcdef";
pub const TEAM: &str = "T123ABC456";
pub const OPERATOR: &str = "U123ABC456";
pub const BOT: &str = "U0LAN0Z89";
pub const CHANNEL: &str = "C123ABC456";

/// One call the bot made to the fake Slack.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    /// What the fake answered (`Null` for a failure it was told to make).
    pub answer: Value,
    /// When the call arrived.
    pub at: Instant,
}

#[derive(Default)]
pub struct FakeSlackState {
    pub calls: Mutex<Vec<Call>>,
    ts: AtomicUsize,
    /// chat.postMessage answers HTTP 500 this many more times.
    pub fail_posts: AtomicUsize,
    /// chat.postMessage answers 429 (Retry-After: 1) this many more times.
    pub rate_limit_posts: AtomicUsize,
    /// The next chat.postMessage whose body contains this text never gets
    /// an answer (the client gives up first).
    pub hang_post_containing: Mutex<Option<String>>,
    /// The next chat.postMessage whose body contains this text answers 429
    /// with this Retry-After (seconds).
    pub rate_limit_post_containing: Mutex<Option<(String, u64)>>,
    /// chat.postMessage to this channel answers `channel_not_found`.
    pub gone_channel: Mutex<Option<String>>,
    /// chat.update answers HTTP 500 this many more times.
    pub fail_updates: AtomicUsize,
    /// chat.update answers `message_not_found` this many more times.
    pub gone_updates: AtomicUsize,
    /// What apps.connections.open hands out (Socket Mode).
    pub socket_url: Mutex<Option<String>>,
    /// auth.test answers `{"ok": false, "error": <this>}` (HTTP 200, as Slack does).
    pub auth_error: Mutex<Option<String>>,
}

async fn web_api(
    State(s): State<Arc<FakeSlackState>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    // Socket Mode opens its connection with the app-level token; everything else uses the bot token.
    let expected = if method == "apps.connections.open" {
        format!("Bearer {APP_TOKEN}")
    } else {
        format!("Bearer {BOT_TOKEN}")
    };
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(expected.as_str())
    );
    let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| json!({"query": query}));
    let record = |method: &str| {
        s.calls.lock().unwrap().push(Call {
            method: method.into(),
            body: body.clone(),
            answer: Value::Null,
            at: Instant::now(),
        })
    };
    if method == "chat.postMessage" {
        let raw = body.to_string();
        let hang = take_if_contained(&s.hang_post_containing, &raw, |n| n.as_str()).is_some();
        if hang {
            record("hung");
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return (StatusCode::INTERNAL_SERVER_ERROR, "too late").into_response();
        }
        if let Some((_, secs)) =
            take_if_contained(&s.rate_limit_post_containing, &raw, |(n, _)| n.as_str())
        {
            record("rate_limited");
            return rate_limited(secs);
        }
        if take_one(&s.fail_posts) {
            record("failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream trouble").into_response();
        }
        if take_one(&s.rate_limit_posts) {
            record("rate_limited");
            return rate_limited(1);
        }
        if s.gone_channel.lock().unwrap().as_deref() == body["channel"].as_str() {
            record("channel_not_found");
            return axum::Json(json!({"ok": false, "error": "channel_not_found"})).into_response();
        }
    }
    if method == "chat.update" {
        if take_one(&s.fail_updates) {
            record("failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream trouble").into_response();
        }
        if take_one(&s.gone_updates) {
            record("message_not_found");
            return axum::Json(json!({"ok": false, "error": "message_not_found"})).into_response();
        }
    }
    let ts = format!("1700000000.{:06}", s.ts.fetch_add(1, Ordering::SeqCst));
    let answer = match method.as_str() {
        "apps.connections.open" => json!({"ok": true, "url": s.socket_url.lock().unwrap().clone()}),
        "auth.test" if s.auth_error.lock().unwrap().is_some() => {
            json!({"ok": false, "error": *s.auth_error.lock().unwrap()})
        }
        "auth.test" => {
            json!({"ok": true, "url": "https://example.slack.com/", "team": "Example", "user": "chatops",
                              "team_id": TEAM, "user_id": BOT, "bot_id": "B0BOT"})
        }
        "chat.postMessage" => json!({"ok": true, "channel": body["channel"], "ts": ts,
                                     "message": {"type": "message", "text": body["text"], "ts": ts, "user": BOT}}),
        "chat.update" => {
            json!({"ok": true, "channel": body["channel"], "ts": body["ts"], "text": body["text"],
                                "message": {"text": body["text"]}})
        }
        "usergroups.list" => json!({"ok": true, "usergroups": [{
            "id": "S0OPS", "team_id": TEAM, "is_usergroup": true, "is_subteam": true, "name": "Ops", "description": "",
            "handle": "ops", "is_external": false, "date_create": 1446746793, "date_update": 1446746793,
            "date_delete": 0, "auto_type": null, "created_by": "U060RNRCZ", "updated_by": "U060RNRCZ",
            "deleted_by": null, "prefs": {"channels": [], "groups": []}, "users": ["UGROUPMEMBER"], "user_count": 1}]}),
        _ => json!({"ok": true}),
    };
    s.calls.lock().unwrap().push(Call {
        method: method.clone(),
        body: body.clone(),
        answer: answer.clone(),
        at: Instant::now(),
    });
    axum::Json(answer).into_response()
}

/// Take the trigger out of `slot` when `raw` contains its needle.
fn take_if_contained<T>(
    slot: &Mutex<Option<T>>,
    raw: &str,
    needle: impl Fn(&T) -> &str,
) -> Option<T> {
    let mut slot = slot.lock().unwrap();
    if slot.as_ref().is_some_and(|t| raw.contains(needle(t))) {
        slot.take()
    } else {
        None
    }
}

/// HTTP 429 with `Retry-After: secs`, as Slack sends it.
fn rate_limited(secs: u64) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"ok": false, "error": "ratelimited"})),
    )
        .into_response();
    r.headers_mut().insert("retry-after", secs.into());
    r
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn respond(
    State(s): State<Arc<FakeSlackState>>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    s.calls.lock().unwrap().push(Call {
        method: format!("respond/{id}"),
        body: serde_json::from_str(&body).unwrap(),
        answer: Value::Null,
        at: Instant::now(),
    });
    "ok".into_response()
}

/// The fake Slack, listening on loopback.
#[derive(Clone)]
pub struct FakeSlack {
    pub state: Arc<FakeSlackState>,
    /// `http://127.0.0.1:<port>`; the Web API is under `/api`.
    pub url: String,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let state = Arc::new(FakeSlackState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/api/{method}", any(web_api))
            .route("/respond/{id}", post(respond))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { state, url }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    /// Bodies of the calls of `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.method == method)
            .map(|c| c.body.clone())
            .collect()
    }

    /// Every call, for failure messages.
    pub fn all_calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// chat.postMessage bodies whose text contains `needle`.
    pub fn posts_containing(&self, needle: &str) -> Vec<Value> {
        self.calls("chat.postMessage")
            .into_iter()
            .filter(|p| p["text"].as_str().is_some_and(|t| t.contains(needle)))
            .collect()
    }

    /// Wait (up to `within`) until `method` was called `n` times.
    pub async fn wait_calls(&self, method: &str, n: usize, within: Duration) -> Vec<Value> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let calls = self.calls(method);
            if calls.len() >= n {
                return calls;
            }
            if tokio::time::Instant::now() > until {
                panic!(
                    "{method} called {} times, expected {n}: {:?}",
                    calls.len(),
                    self.all_calls()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait (up to `within`) until a post contains `needle`.
    pub async fn wait_post(&self, needle: &str, within: Duration) -> Value {
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(p) = self.posts_containing(needle).into_iter().next() {
                return p;
            }
            if tokio::time::Instant::now() > until {
                panic!("no post contains {needle:?}: {:?}", self.all_calls());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `v0=<hex hmac>` of Slack's signing scheme.
pub fn sign(timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends what Slack would send to a bot at `addr`, signed.
#[derive(Clone)]
pub struct SlackClient {
    pub addr: SocketAddr,
    /// The fake Slack's base URL (for response_url).
    pub slack_url: String,
    http: reqwest::Client,
}

impl SlackClient {
    pub fn new(addr: SocketAddr, slack_url: &str) -> Self {
        Self {
            addr,
            slack_url: slack_url.to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let now = chrono::Utc::now().timestamp();
        let mut request = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", now.to_string())
            .header("x-slack-signature", sign(now, &body));
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        request.body(body).send().await.unwrap()
    }

    pub async fn command(&self, user: &str, text: &str, response_id: &str) -> reqwest::Response {
        let body = serde_urlencoded::to_string([
            ("token", "xyzz0WbapA4vBCDEFasx0q6G"),
            ("team_id", TEAM),
            ("team_domain", "example"),
            ("channel_id", CHANNEL),
            ("channel_name", "ops"),
            ("user_id", user),
            ("user_name", "roadrunner"),
            ("command", "/ops"),
            ("text", text),
            (
                "response_url",
                &format!("{}/respond/{response_id}", self.slack_url),
            ),
            // Unique per invocation, as Slack makes it.
            (
                "trigger_id",
                &format!("398738663015.{response_id}.803a0bc8"),
            ),
        ])
        .unwrap();
        self.send(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            body,
            &[],
        )
        .await
    }

    /// An Events API callback with `event` as its inner event.
    pub async fn event(
        &self,
        event_id: &str,
        event: Value,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut envelope: Value =
            serde_json::from_str(include_str!("../../fixtures/slack-event-app-mention.json"))
                .unwrap();
        envelope["event_id"] = event_id.into();
        envelope["event"] = event;
        self.send(
            "/slack/events",
            "application/json",
            envelope.to_string(),
            extra,
        )
        .await
    }

    /// An Approve / Cancel click on the approval message `message_ts`.
    pub async fn click(
        &self,
        user: &str,
        action: &str,
        approval_id: &str,
        message_ts: &str,
    ) -> reqwest::Response {
        self.send_click(&self.click_payload(user, action, approval_id, message_ts))
            .await
    }

    /// The `block_actions` payload of a click (unique `trigger_id`, as Slack
    /// makes it), to change or replay.
    pub fn click_payload(
        &self,
        user: &str,
        action: &str,
        approval_id: &str,
        message_ts: &str,
    ) -> Value {
        let mut payload: Value =
            serde_json::from_str(include_str!("../../fixtures/slack-block-actions.json")).unwrap();
        payload["user"]["id"] = user.into();
        payload["actions"][0]["action_id"] = action.into();
        payload["actions"][0]["value"] = approval_id.into();
        payload["container"]["message_ts"] = message_ts.into();
        payload["response_url"] = format!("{}/respond/click-{user}", self.slack_url).into();
        payload["trigger_id"] = uuid::Uuid::new_v4().simple().to_string().into();
        payload
    }

    /// Send a click's payload, signed.
    pub async fn send_click(&self, payload: &Value) -> reqwest::Response {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.send(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            body,
            &[],
        )
        .await
    }
}

/// The approval request among `posts`, and the approval id its buttons carry.
pub fn approval_request(posts: &[Value]) -> (&Value, String) {
    let post = posts
        .iter()
        .find(|p| p["blocks"].to_string().contains("\"approve\""))
        .expect("an approval message");
    let actions = post["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    (
        post,
        actions["elements"][0]["value"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// An app_mention of the bot by `user` in `CHANNEL`, in the thread `thread_ts`.
pub fn mention(user: &str, text: &str, ts: &str, thread_ts: Option<&str>) -> Value {
    let mut e = json!({
        "type": "app_mention",
        "user": user,
        "text": format!("<@{BOT}> {text}"),
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
    });
    if let Some(t) = thread_ts {
        e["thread_ts"] = t.into();
    }
    e
}
