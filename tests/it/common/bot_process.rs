//! `chatops serve` as a separate process (the real binary), configured by a
//! chatops.toml, its stderr kept in a log file for failure messages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `chatops serve` child process; killed (SIGKILL) when dropped.
pub struct BotProcess {
    child: Child,
    pub addr: std::net::SocketAddr,
    log: PathBuf,
}

impl BotProcess {
    /// Start the binary on `config` with its own HTTP port; wait until `/readyz` answers 200.
    pub async fn start(config: &Path, log: PathBuf) -> Self {
        Self::start_logging(config, log, "info,chatops=debug").await
    }

    /// [`BotProcess::start`] with `RUST_LOG` = `rust_log`.
    pub async fn start_logging(config: &Path, log: PathBuf, rust_log: &str) -> Self {
        let addr: std::net::SocketAddr = super::free_addr().parse().unwrap();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_chatops"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env_clear()
            .env("CHATOPS_HTTP_ADDR", addr.to_string())
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        let bot = Self { child, addr, log };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await
                && r.status() == 200
            {
                return bot;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the bot did not get ready:\n{}", bot.logs());
    }

    /// The process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it has not exited or died).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no lease hand-back.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl BotProcess {
    /// SIGTERM, then wait (bounded) for the exit status.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let until = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < until,
                "still running after SIGTERM:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
