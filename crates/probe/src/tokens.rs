//! Chat-template special tokens for role spoofing: the target's own, read
//! from its `tokenizer_config.json`, or the common templates' when none is
//! given.

use serde::Serialize;
use serde_json::Value;

/// How a chat template opens and closes turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatTokens {
    /// The template's name (`chatml`, `llama3`, ... or `tokenizer_config`).
    pub name: String,
    /// What opens a system turn.
    pub system: String,
    /// What opens a user turn.
    pub user: String,
    /// What opens an assistant turn.
    pub assistant: String,
    /// What ends a turn.
    pub end: String,
}

fn tokens(name: &str, system: &str, user: &str, assistant: &str, end: &str) -> ChatTokens {
    ChatTokens {
        name: name.into(),
        system: system.into(),
        user: user.into(),
        assistant: assistant.into(),
        end: end.into(),
    }
}

/// The templates of widely served model families, and plain-text turns.
pub fn builtin() -> Vec<ChatTokens> {
    vec![
        tokens(
            "chatml",
            "<|im_start|>system\n",
            "<|im_start|>user\n",
            "<|im_start|>assistant\n",
            "<|im_end|>\n",
        ),
        tokens(
            "llama3",
            "<|start_header_id|>system<|end_header_id|>\n\n",
            "<|start_header_id|>user<|end_header_id|>\n\n",
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "<|eot_id|>",
        ),
        tokens(
            "llama2",
            "[INST] <<SYS>>\n",
            "[INST] ",
            "[/INST] ",
            " </s><s>",
        ),
        tokens(
            "gemma",
            "<start_of_turn>user\nSystem: ",
            "<start_of_turn>user\n",
            "<start_of_turn>model\n",
            "<end_of_turn>\n",
        ),
        tokens(
            "phi3",
            "<|system|>\n",
            "<|user|>\n",
            "<|assistant|>\n",
            "<|end|>\n",
        ),
        tokens(
            "text",
            "\n\nSystem: ",
            "\n\nUser: ",
            "\n\nAssistant: ",
            "\n",
        ),
    ]
}

/// Why a tokenizer configuration gave no tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// Not JSON.
    #[error("not a JSON tokenizer configuration: {0}")]
    Json(#[from] serde_json::Error),
    /// No template this reader knows.
    #[error(
        "its chat template uses none of the known turn markers (ChatML, Llama 3, Llama 2, Gemma, Phi-3)"
    )]
    Unknown,
}

/// The turn tokens of a Hugging Face `tokenizer_config.json`: the known
/// template whose markers its `chat_template` uses.
pub fn from_tokenizer_config(text: &str) -> Result<ChatTokens, TokensError> {
    let v: Value = serde_json::from_str(text)?;
    let template = match &v["chat_template"] {
        Value::String(s) => s.clone(),
        // A list of named templates: all of them.
        Value::Array(items) => items
            .iter()
            .filter_map(|t| t["template"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let known = [
        ("<|im_start|>", "chatml"),
        ("<|start_header_id|>", "llama3"),
        ("<start_of_turn>", "gemma"),
        ("<|assistant|>", "phi3"),
        ("[INST]", "llama2"),
    ];
    let name = known
        .iter()
        .find(|(marker, _)| template.contains(marker))
        .map(|(_, name)| *name)
        .ok_or(TokensError::Unknown)?;
    let mut t = builtin()
        .into_iter()
        .find(|t| t.name == name)
        .ok_or(TokensError::Unknown)?;
    t.name = format!("tokenizer_config ({name})");
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_template_family_of_a_tokenizer_config() {
        let cfg = r#"{"chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"}"#;
        let t = from_tokenizer_config(cfg).unwrap();
        assert_eq!(t.end, "<|im_end|>\n");
        let named =
            r#"{"chat_template": [{"name": "default", "template": "<|start_header_id|>"}]}"#;
        assert!(
            from_tokenizer_config(named)
                .unwrap()
                .name
                .contains("llama3")
        );
        assert!(matches!(
            from_tokenizer_config(r#"{"chat_template": "{{ x }}"}"#),
            Err(TokensError::Unknown)
        ));
        assert!(from_tokenizer_config("nope").is_err());
    }
}
