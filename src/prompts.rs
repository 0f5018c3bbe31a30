//! Prompts are data files in `prompts/`, embedded at build time so the binary
//! runs from anywhere. Each prompt's version is the hash of its text; the
//! system prompt's version is recorded on every audit record, so changing a
//! prompt changes the version.

use sha2::{Digest, Sha256};

use crate::domain::{Language, Surface};

const SYSTEM_PROMPT: (&str, &str) = ("prompts/system.md", include_str!("../prompts/system.md"));
const DIGEST_SUMMARY_PROMPT: (&str, &str) = (
    "prompts/digest_summary.md",
    include_str!("../prompts/digest_summary.md"),
);

/// The loaded prompts.
#[derive(Debug, Clone)]
pub struct Prompts {
    system: String,
    version: String,
    digest_summary: String,
    digest_summary_version: String,
}

/// A prompt file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("prompt file {file}: {message}")]
pub struct PromptError {
    pub file: &'static str,
    pub message: String,
}

impl Prompts {
    /// The embedded prompts, checked.
    pub fn load() -> Result<Self, PromptError> {
        Self::from_text(SYSTEM_PROMPT.0, SYSTEM_PROMPT.1)
    }

    fn from_text(file: &'static str, text: &str) -> Result<Self, PromptError> {
        let version = checked(
            file,
            "system",
            text,
            &["{{language}}", "{{today}}", "{{bot_name}}"],
        )?;
        let (digest_file, digest_text) = DIGEST_SUMMARY_PROMPT;
        let digest_summary_version = checked(
            digest_file,
            "digest_summary",
            digest_text,
            &["{{language}}"],
        )?;
        Ok(Self {
            system: text.to_string(),
            version,
            digest_summary: digest_text.to_string(),
            digest_summary_version,
        })
    }

    /// The digest summary's instructions, in `language`.
    pub fn digest_summary(&self, language: Language) -> String {
        self.digest_summary
            .replace("{{language}}", language_name(language))
    }

    /// `digest_summary@<12 hex digits of sha256>`.
    pub fn digest_summary_version(&self) -> &str {
        &self.digest_summary_version
    }

    /// `system@<12 hex digits of sha256>`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The system prompt for one turn.
    pub fn system_prompt(&self, bot_name: &str, language: Language, surface: Surface) -> String {
        let language = crate::i18n::words::answer_language(language);
        self.system
            .replace("{{bot_name}}", bot_name)
            .replace(
                "{{today}}",
                &chrono::Utc::now().format("%Y-%m-%d").to_string(),
            )
            .replace("{{platform}}", surface.as_str())
            .replace("{{language}}", language)
    }
}

/// `name@<12 hex digits of the text's sha256>`, once every placeholder is there.
fn checked(
    file: &'static str,
    name: &str,
    text: &str,
    placeholders: &[&str],
) -> Result<String, PromptError> {
    for placeholder in placeholders {
        if !text.contains(placeholder) {
            return Err(PromptError {
                file,
                message: format!("missing the placeholder {placeholder}"),
            });
        }
    }
    let digest = Sha256::digest(text.as_bytes());
    Ok(format!("{name}@{}", &hex::encode(digest)[..12]))
}

fn language_name(language: Language) -> &'static str {
    crate::i18n::words::language_name(language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_follows_content_and_placeholders_are_checked() {
        let a = Prompts::from_text("x", "{{bot_name}} {{today}} {{language}}").unwrap();
        let b = Prompts::from_text("x", "{{bot_name}} {{today}} {{language}}!").unwrap();
        assert_ne!(a.version(), b.version());
        let err = Prompts::from_text("prompts/x.md", "no placeholders").unwrap_err();
        assert!(err.to_string().contains("prompts/x.md"));
        let p = Prompts::load().unwrap();
        assert!(
            p.system_prompt("bot", Language::Ko, Surface::Slack)
                .contains("Korean")
        );
        assert!(p.digest_summary(Language::Ko).contains("Korean (한국어)"));
        assert!(p.digest_summary_version().starts_with("digest_summary@"));
    }
}
