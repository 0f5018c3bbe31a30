//! A fake Discord at the process edge: its REST API (messages, webhooks,
//! interaction callbacks, command registration, typing) recording every call,
//! with failures on demand (HTTP 500 on messages or interaction webhooks, a
//! channel the bot was removed from); like Discord, it refuses (401) a bot
//! route called without a bot token — only an interaction's webhook and
//! callback routes need none;
//! a fake gateway speaking Discord's protocol (HELLO, IDENTIFY, READY,
//! MESSAGE_CREATE); and a client sending Ed25519-signed interactions to a
//! bot's HTTP server, as Discord does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

pub const APP_ID: &str = "1167900000000000000";
pub const BOT: &str = "1167900000000000000";
pub const GUILD: &str = "290926798626357250";
pub const CHANNEL: &str = "645027906669510667";
pub const OPERATOR: &str = "53908232506183680";
pub const OPERATOR_ROLE: &str = "539082325061836999";
/// A channel the bot was removed from: creating a message there is 404.
pub const GONE_CHANNEL: &str = "1167912999999999999";
/// The bot token for the gateway.
pub const TOKEN: &str = "discord-bot-token-abc.def.ghi";

/// One call the bot made to the fake Discord.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// The request carried a bot token (`Authorization: Bot <token>`, not empty).
    pub bot_token: bool,
    /// The fake answered 401: a bot route called without a bot token.
    pub refused: bool,
    /// The id of what the call created (a message's), when it created one.
    pub id: String,
}

/// Routes that take no bot token: an interaction's webhook (its response,
/// follow-ups) and callback, authorised by the interaction token in the path.
fn needs_no_bot_token(path: &str) -> bool {
    path.starts_with("/webhooks/")
        || (path.starts_with("/interactions/") && path.ends_with("/callback"))
}

#[derive(Default)]
pub struct FakeDiscordState {
    pub calls: Mutex<Vec<Call>>,
    ids: AtomicUsize,
    /// What `GET /gateway/bot` hands out.
    pub gateway_url: Mutex<String>,
    /// Creating a message answers HTTP 500 this many more times.
    pub fail_posts: AtomicUsize,
    /// Calls to an interaction's webhook (editing the deferred response,
    /// follow-ups) answer HTTP 500 this many more times.
    pub fail_webhooks: AtomicUsize,
}

pub fn message_json(id: &str, channel: &str, content: &str) -> Value {
    json!({"id": id, "channel_id": channel, "content": content, "timestamp": "2026-11-22T07:00:00.000000+00:00",
           "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
           "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0, "components": [],
           "author": {"id": BOT, "username": "opsbot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true}})
}

async fn rest(
    State(s): State<Arc<FakeDiscordState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = uri.path().trim_start_matches("/api/v10").to_string();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    // serenity sends `Authorization: Bot ` even with no token.
    let bot_token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bot"))
        .is_some_and(|token| !token.trim().is_empty());
    let refused = !bot_token && !needs_no_bot_token(&path);
    let id = format!("9{:018}", s.ids.fetch_add(1, Ordering::SeqCst));
    s.calls.lock().unwrap().push(Call {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
        bot_token,
        refused,
        id: id.clone(),
    });
    if refused {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "401: Unauthorized", "code": 0})),
        )
            .into_response();
    }
    let channel = path.split('/').nth(2).unwrap_or(CHANNEL).to_string();
    let creates_message = method == Method::POST && path.ends_with("/messages");
    if creates_message && channel == GONE_CHANNEL {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Unknown Channel", "code": 10003})),
        )
            .into_response();
    }
    let take = |counter: &AtomicUsize| {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    };
    if (creates_message && take(&s.fail_posts))
        || (path.starts_with("/webhooks/") && take(&s.fail_webhooks))
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"message": "500: Internal Server Error", "code": 0})),
        )
            .into_response();
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/gateway/bot") => axum::Json(json!({"url": *s.gateway_url.lock().unwrap(), "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})).into_response(),
        ("GET", "/gateway") => axum::Json(json!({"url": *s.gateway_url.lock().unwrap()})).into_response(),
        (_, p) if p.ends_with("/typing") || p.ends_with("/callback") => StatusCode::NO_CONTENT.into_response(),
        (_, p) if p.contains("/commands") => axum::Json(json!({"id": id, "application_id": APP_ID, "version": "1",
            "type": 1, "name": "ops", "description": "Ask", "default_member_permissions": null, "dm_permission": true,
            "nsfw": false, "options": body["options"]})).into_response(),
        _ => axum::Json(message_json(&id, &channel, body["content"].as_str().unwrap_or_default())).into_response(),
    }
}

/// A `/ops` command interaction from `user` (with `roles`) asking `question`.
pub fn command(id: &str, user: &str, roles: &[&str], question: &str) -> Value {
    let mut c: Value = serde_json::from_str(include_str!(
        "../../fixtures/discord-interaction-command.json"
    ))
    .unwrap();
    c["id"] = id.into();
    c["member"]["user"]["id"] = user.into();
    c["member"]["roles"] = json!(roles);
    c["data"]["options"][0]["value"] = question.into();
    c["token"] = format!("token-{id}").into();
    c
}

/// A button click interaction from `user` on `custom_id`.
pub fn click(id: &str, user: &str, roles: &[&str], custom_id: &str) -> Value {
    let mut c: Value = serde_json::from_str(include_str!(
        "../../fixtures/discord-interaction-component.json"
    ))
    .unwrap();
    c["id"] = id.into();
    c["member"]["user"]["id"] = user.into();
    c["member"]["roles"] = json!(roles);
    c["data"]["custom_id"] = custom_id.into();
    c["token"] = format!("token-{id}").into();
    c
}

/// The fake Discord REST API, listening on loopback.
#[derive(Clone)]
pub struct FakeDiscord {
    pub state: Arc<FakeDiscordState>,
    /// `http://127.0.0.1:<port>`; the REST API is under `/api/v10`.
    pub url: String,
}

impl FakeDiscord {
    pub async fn start() -> Self {
        let state = Arc::new(FakeDiscordState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().fallback(any(rest)).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { state, url }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/v10", self.url)
    }

    /// The key Discord signs interactions with.
    pub fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    /// Point `settings` at this Discord (public key, application, REST API, guild).
    pub fn configure(&self, settings: &mut chatops::config::Settings) {
        settings.discord.public_key =
            Some(hex::encode(Self::signing_key().verifying_key().as_bytes()));
        settings.discord.application_id = Some(APP_ID.into());
        settings.discord.api_url = Some(self.api_url());
        settings.discord.guild_id = Some(GUILD.into());
    }

    /// Every call so far, in order.
    pub fn all_calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The calls of `method` whose path contains `path_part`, in order.
    pub fn calls(&self, method: &str, path_part: &str) -> Vec<Call> {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.method == method && c.path.contains(path_part))
            .cloned()
            .collect()
    }

    /// Wait (up to 10 s) for the first call that `matches`.
    pub async fn wait_for(&self, matches: impl Fn(&Call) -> bool) -> Call {
        for _ in 0..500 {
            if let Some(call) = self.all_calls().into_iter().find(|c| matches(c)) {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no such call: {:?}", self.all_calls());
    }

    /// Wait (up to 10 s) until there are `n` such calls.
    pub async fn wait_calls(&self, method: &str, path_part: &str, n: usize) -> Vec<Call> {
        for _ in 0..500 {
            let calls = self.calls(method, path_part);
            if calls.len() >= n {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{method} {path_part}: {} calls, expected {n}: {:?}",
            self.calls(method, path_part).len(),
            self.all_calls()
        );
    }
}

/// Sends what Discord would send to a bot at `addr`, signed.
#[derive(Clone)]
pub struct DiscordClient {
    pub addr: SocketAddr,
    pub key: SigningKey,
    http: reqwest::Client,
}

impl DiscordClient {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            key: FakeDiscord::signing_key(),
            http: reqwest::Client::new(),
        }
    }

    /// An interaction, signed now.
    pub async fn interact(&self, body: &Value) -> reqwest::Response {
        let body = body.to_string();
        let ts = chrono::Utc::now().timestamp().to_string();
        let signature = self.key.sign(format!("{ts}{body}").as_bytes());
        self.http
            .post(format!("http://{}/discord/interactions", self.addr))
            .header("content-type", "application/json")
            .header("x-signature-ed25519", hex::encode(signature.to_bytes()))
            .header("x-signature-timestamp", ts)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// A fake Discord gateway: HELLO, then READY after IDENTIFY, then each
/// MESSAGE_CREATE the test sends through the returned channel. Returns its
/// URL, what the bot sent, and the sender for dispatches.
pub async fn fake_gateway() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<Value>,
    tokio::sync::mpsc::UnboundedSender<Value>,
) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (dispatch, mut dispatches) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
        let hello = json!({"op": 10, "d": {"heartbeat_interval": 45000}, "s": null, "t": null});
        socket.send(Message::text(hello.to_string())).await.unwrap();
        let mut sequence = 1;
        loop {
            tokio::select! {
                message = socket.next() => {
                    let Some(Ok(Message::Text(text))) = message else {
                        if message.is_none() { break } else { continue }
                    };
                    let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                    let _ = seen_tx.send(payload.clone());
                    match payload["op"].as_u64() {
                        Some(1) => {
                            socket.send(Message::text(json!({"op": 11, "d": null}).to_string())).await.unwrap();
                        }
                        Some(2) => {
                            let ready = json!({"op": 0, "s": 1, "t": "READY", "d": {
                                "v": 10, "session_id": "session-1", "resume_gateway_url": "ws://127.0.0.1:9",
                                "user": {"id": BOT, "username": "opsbot", "discriminator": "0", "global_name": null,
                                         "avatar": null, "bot": true, "mfa_enabled": false, "verified": true, "flags": 0},
                                "guilds": [{"id": GUILD, "unavailable": true}], "shard": [0, 1],
                                "application": {"id": APP_ID, "flags": 0}}});
                            socket.send(Message::text(ready.to_string())).await.unwrap();
                        }
                        _ => {}
                    }
                }
                Some(d) = dispatches.recv() => {
                    sequence += 1;
                    let event = json!({"op": 0, "s": sequence, "t": "MESSAGE_CREATE", "d": d});
                    socket.send(Message::text(event.to_string())).await.unwrap();
                }
            }
        }
    });
    (url, seen, dispatch)
}
