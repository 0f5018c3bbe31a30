//! The `chatops` binary: installs the TLS crypto provider, parses the command
//! line and hands over to [`chatops::cli::run`].

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    chatops::install_crypto_provider();
    chatops::cli::run(chatops::cli::Cli::parse()).await
}
