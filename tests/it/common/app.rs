//! The one way tests stand up the bot in-process: [`TestApp::builder`] on
//! settings, then what the test needs —
//!
//! - the store: SQLite in a fresh folder (default) or a given [`Store`];
//! - the platform: the configured one (default), the sandbox with ~40 ms
//!   backtests ([`TestAppBuilder::fast_sandbox`]) or a given one;
//! - tools: the test `echo` and `deploy` ([`TestAppBuilder::test_tools`]) or any other;
//! - chat platforms: the fake Slack (optionally in Socket Mode), the fake
//!   Discord (optionally with its gateway);
//! - serving `chatops serve`'s HTTP server on a free loopback port.
//!
//! The [`TestApp`] keeps the folder, the fakes and the server alive until it
//! is dropped (the server stops then), and derefs to the [`App`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chatops::agent::model::ChatModel;
use chatops::app::App;
use chatops::config::Settings;
use chatops::platform::QuantPlatform;
use chatops::platform::sandbox::SandboxPlatform;
use chatops::secret::Secret;
use chatops::store::backends::Store;
use chatops::tools::Tool;

use super::fake_discord::{self, DiscordClient, FakeDiscord};
use super::fake_slack::{APP_TOKEN, BOT_TOKEN, FakeSlack, SECRET, SlackClient};
use super::{DeployTool, EchoTool};

enum PlatformChoice {
    Configured,
    FastSandbox,
    Given(Arc<dyn QuantPlatform>),
}

/// Options for a [`TestApp`]; see the module documentation.
pub struct TestAppBuilder {
    settings: Settings,
    store: Option<Store>,
    platform: PlatformChoice,
    test_tools: bool,
    tools: Vec<Arc<dyn Tool>>,
    slack: Option<FakeSlack>,
    slack_socket_url: Option<String>,
    discord: Option<FakeDiscord>,
    discord_gateway_url: Option<String>,
    model: Option<Arc<dyn ChatModel>>,
    serve: bool,
}

impl TestAppBuilder {
    /// Use this store (e.g. a MongoDB one, or one to reopen) instead of a
    /// fresh SQLite file.
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Use this platform instead of the configured one.
    pub fn platform(mut self, platform: Arc<dyn QuantPlatform>) -> Self {
        self.platform = PlatformChoice::Given(platform);
        self
    }

    /// A sandbox platform whose backtests finish in ~40 ms (kept as
    /// [`TestApp::sandbox`], to change its data).
    pub fn fast_sandbox(mut self) -> Self {
        self.platform = PlatformChoice::FastSandbox;
        self
    }

    /// Register the test tools `echo` (read-only) and `deploy` (mutating),
    /// whose runs are counted in [`TestApp::echo`] and [`TestApp::deploy`].
    pub fn test_tools(mut self) -> Self {
        self.test_tools = true;
        self
    }

    /// Answer with this in-process model instead of the configured one.
    pub fn model(mut self, model: Arc<dyn ChatModel>) -> Self {
        self.model = Some(model);
        self
    }

    /// Register one more tool.
    pub fn tool(mut self, tool: Arc<dyn Tool>) -> Self {
        self.tools.push(tool);
        self
    }

    /// Slack on this fake (bot token, signing secret, Web API URL); with
    /// [`TestAppBuilder::serve`], [`TestApp::slack_client`] sends it signed requests.
    pub fn slack(mut self, slack: &FakeSlack) -> Self {
        self.slack = Some(slack.clone());
        self
    }

    /// Slack in Socket Mode too: the app token is set and the fake Slack
    /// hands out `url` from apps.connections.open.
    pub fn slack_socket_mode(mut self, url: String) -> Self {
        self.slack_socket_url = Some(url);
        self
    }

    /// Discord on this fake (public key, application, REST API, guild); with
    /// [`TestAppBuilder::serve`], [`TestApp::discord_client`] sends it signed interactions.
    pub fn discord(mut self, discord: &FakeDiscord) -> Self {
        self.discord = Some(discord.clone());
        self
    }

    /// Discord's gateway too: the bot token is set and the fake Discord
    /// hands out `url` (see [`fake_discord::fake_gateway`]).
    pub fn discord_gateway(mut self, url: String) -> Self {
        self.discord_gateway_url = Some(url);
        self
    }

    /// Serve `chatops serve`'s HTTP server (and the chat adapters) on a free
    /// loopback port; `build` returns once it accepts connections.
    pub fn serve(mut self) -> Self {
        self.serve = true;
        self
    }

    pub async fn build(self) -> TestApp {
        chatops::install_crypto_provider();
        let mut settings = self.settings;
        if let Some(slack) = &self.slack {
            settings.slack.bot_token = Some(Secret::new(BOT_TOKEN));
            settings.slack.signing_secret = Some(Secret::new(SECRET));
            settings.slack.api_url = Some(slack.api_url());
            *slack.state.socket_url.lock().unwrap() = self.slack_socket_url.clone();
            if self.slack_socket_url.is_some() {
                settings.slack.app_token = Some(Secret::new(APP_TOKEN));
            }
        }
        if let Some(discord) = &self.discord {
            discord.configure(&mut settings);
            *discord.state.gateway_url.lock().unwrap() =
                self.discord_gateway_url.clone().unwrap_or_default();
            if self.discord_gateway_url.is_some() {
                settings.discord.token = Some(Secret::new(fake_discord::TOKEN));
            }
        }
        if self.serve {
            settings.http.addr = super::free_addr();
        }

        let (store, dir) = match self.store {
            Some(store) => (store, None),
            None => {
                let dir = tempfile::tempdir().unwrap();
                (super::sqlite_store(&dir.path().join("t.db")), Some(dir))
            }
        };
        let mut builder = App::builder(settings).store(store);
        let mut sandbox = None;
        match self.platform {
            PlatformChoice::Configured => {}
            PlatformChoice::FastSandbox => {
                let platform =
                    SandboxPlatform::with_step(chrono::Utc::now(), Duration::from_millis(20));
                builder = builder.platform(Arc::new(platform.clone()));
                sandbox = Some(platform);
            }
            PlatformChoice::Given(platform) => builder = builder.platform(platform),
        }
        let (echo, deploy) = (EchoTool::default(), DeployTool::default());
        if self.test_tools {
            builder = builder
                .tool(Arc::new(echo.clone()))
                .tool(Arc::new(deploy.clone()));
        }
        for tool in self.tools {
            builder = builder.tool(tool);
        }
        if let Some(model) = self.model {
            builder = builder.model(model);
        }
        let app = Arc::new(builder.build().await.unwrap());

        let server = if self.serve {
            Some(Server::start(app.clone()).await)
        } else {
            None
        };
        let addr = server.as_ref().map(|s| s.addr);
        TestApp {
            slack: self
                .slack
                .map(|fake| (addr.map(|a| SlackClient::new(a, &fake.url)), fake)),
            discord: self
                .discord
                .map(|fake| (addr.map(DiscordClient::new), fake)),
            app,
            http: reqwest::Client::new(),
            echo,
            deploy,
            sandbox,
            server,
            _dir: dir,
        }
    }
}

/// `chatops serve` for an app, stopped when dropped.
struct Server {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Serve on the app's `http.addr`; return once it accepts connections.
    async fn start(app: Arc<App>) -> Self {
        let addr: SocketAddr = app.settings.http.addr.parse().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(chatops::server::serve(app, async move {
            let _ = stopped.await;
        }));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { addr, stop, task }
    }
}

/// A bot in this process, built by [`TestApp::builder`].
pub struct TestApp {
    pub app: Arc<App>,
    /// A plain HTTP client, for requests of the test's own making.
    pub http: reqwest::Client,
    /// Runs of the test tool `echo` (registered with `test_tools`).
    pub echo: EchoTool,
    /// Runs of the test tool `deploy` (registered with `test_tools`).
    pub deploy: DeployTool,
    sandbox: Option<SandboxPlatform>,
    slack: Option<(Option<SlackClient>, FakeSlack)>,
    discord: Option<(Option<DiscordClient>, FakeDiscord)>,
    server: Option<Server>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Embedded-style `settings` (see [`super::settings_with_llm`]) plus the
    /// options of [`TestAppBuilder`].
    pub fn builder(settings: Settings) -> TestAppBuilder {
        TestAppBuilder {
            settings,
            store: None,
            platform: PlatformChoice::Configured,
            test_tools: false,
            tools: Vec::new(),
            slack: None,
            slack_socket_url: None,
            discord: None,
            discord_gateway_url: None,
            model: None,
            serve: false,
        }
    }

    /// Where the HTTP server listens (built with `serve`).
    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("built with .serve()").addr
    }

    /// The fast sandbox platform (built with `fast_sandbox`).
    pub fn sandbox(&self) -> &SandboxPlatform {
        self.sandbox.as_ref().expect("built with .fast_sandbox()")
    }

    /// The fake Slack (built with `slack`).
    pub fn slack(&self) -> &FakeSlack {
        &self.slack.as_ref().expect("built with .slack(…)").1
    }

    /// Signed Slack requests to this bot (built with `slack` and `serve`).
    pub fn slack_client(&self) -> &SlackClient {
        self.slack
            .as_ref()
            .and_then(|(client, _)| client.as_ref())
            .expect("built with .slack(…) and .serve()")
    }

    /// The fake Discord (built with `discord`).
    pub fn discord(&self) -> &FakeDiscord {
        &self.discord.as_ref().expect("built with .discord(…)").1
    }

    /// Signed Discord interactions to this bot (built with `discord` and `serve`).
    pub fn discord_client(&self) -> &DiscordClient {
        self.discord
            .as_ref()
            .and_then(|(client, _)| client.as_ref())
            .expect("built with .discord(…) and .serve()")
    }

    /// Stop the HTTP server and wait for it: what `chatops::server::serve` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let server = self.server.take().expect("built with .serve()");
        let _ = server.stop.send(());
        server.task.await.expect("the server task did not panic")
    }
}

impl std::ops::Deref for TestApp {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}
