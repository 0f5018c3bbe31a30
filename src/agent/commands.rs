//! The bot's built-in commands, parsed in this one place for every chat
//! surface, in English and Korean: `help` (`도움말`, `도움`, or an empty
//! message) and `model …` (`모델 …`, `/model …`). Anything longer is a
//! question for the model, not a command.

/// A built-in command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// What the caller may ask here, with their role.
    Help,
    Model(ModelCommand<'a>),
}

/// A `model …` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelCommand<'a> {
    Show,
    Default,
    Pick(&'a str),
}

/// The command `text` is, if it is one.
pub fn parse(text: &str) -> Option<Command<'_>> {
    let text = text.trim();
    if text.is_empty()
        || matches!(
            text.to_lowercase().as_str(),
            "help" | "/help" | "도움말" | "도움" | "?"
        )
    {
        return Some(Command::Help);
    }
    model_command(text).map(Command::Model)
}

/// `model`, `model <name>`, `model default` (also `모델 …`, `/model …`).
fn model_command(text: &str) -> Option<ModelCommand<'_>> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    if !matches!(first.to_lowercase().as_str(), "model" | "/model" | "모델") {
        return None;
    }
    let (name, rest) = (words.next(), words.next());
    match (name, rest) {
        (None, _) => Some(ModelCommand::Show),
        (Some(n), None) if matches!(n.to_lowercase().as_str(), "default" | "기본") => {
            Some(ModelCommand::Default)
        }
        (Some(n), None)
            if n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_' | '/')) =>
        {
            Some(ModelCommand::Pick(n))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_the_same_word_in_both_languages_and_an_empty_message() {
        for text in ["help", "HELP", " /help ", "도움말", "도움", "", "  "] {
            assert_eq!(parse(text), Some(Command::Help), "{text:?}");
        }
        assert_eq!(parse("help me with RSI"), None);
        assert_eq!(parse("도움이 필요해요 백테스트"), None);
    }

    #[test]
    fn model_commands_are_short_and_questions_are_not_commands() {
        let model = |t| match parse(t) {
            Some(Command::Model(m)) => Some(m),
            _ => None,
        };
        assert_eq!(model("model"), Some(ModelCommand::Show));
        assert_eq!(model("모델 gpt-4o"), Some(ModelCommand::Pick("gpt-4o")));
        assert_eq!(model("/model default"), Some(ModelCommand::Default));
        assert_eq!(
            model("model llama3.1:8b"),
            Some(ModelCommand::Pick("llama3.1:8b"))
        );
        assert_eq!(model("model performance of RSI"), None);
        assert_eq!(model("models?"), None);
    }
}
