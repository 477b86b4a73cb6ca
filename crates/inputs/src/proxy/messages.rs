//! The texts of an OpenAI-compatible request that come from outside the
//! application, by role, with the JSON pointer of each so a sanitised text
//! can be put back: chat completions (`messages`), the Responses API
//! (`input`), legacy completions (`prompt`) and embeddings (`input`).

use serde_json::Value;

/// Which API a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST .../chat/completions`.
    Chat,
    /// `POST .../responses`.
    Responses,
    /// `POST .../completions`.
    Completions,
    /// `POST .../embeddings`.
    Embeddings,
}

impl Api {
    /// The API of a request path, if its body carries inputs.
    pub fn of_path(path: &str) -> Option<Api> {
        let p = path.split('?').next().unwrap_or("").trim_end_matches('/');
        if p.ends_with("/chat/completions") {
            Some(Api::Chat)
        } else if p.ends_with("/responses") {
            Some(Api::Responses)
        } else if p.ends_with("/completions") {
            Some(Api::Completions)
        } else if p.ends_with("/embeddings") {
            Some(Api::Embeddings)
        } else {
            None
        }
    }
}

/// One text of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Where it is in the body (a JSON pointer).
    pub pointer: String,
    /// Who wrote it: `user`, `tool`, `system`, `developer`, `assistant`.
    pub role: String,
    /// The text.
    pub text: String,
}

/// Every text of `body`, with its role.
pub fn parts(api: Api, body: &Value) -> Vec<Part> {
    let mut out = Vec::new();
    match api {
        Api::Chat => chat(body, &mut out),
        Api::Responses => responses(body, &mut out),
        Api::Completions => strings_at(body, "/prompt", "user", &mut out),
        Api::Embeddings => strings_at(body, "/input", "user", &mut out),
    }
    out
}

fn push(out: &mut Vec<Part>, pointer: String, role: &str, v: &Value) {
    if let Some(s) = v.as_str() {
        out.push(Part {
            pointer,
            role: role.to_string(),
            text: s.to_string(),
        });
    }
}

/// A string, or an array of strings, at `pointer`.
fn strings_at(body: &Value, pointer: &str, role: &str, out: &mut Vec<Part>) {
    match body.pointer(pointer) {
        Some(Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                push(out, format!("{pointer}/{i}"), role, v)
            }
        }
        Some(v) => push(out, pointer.to_string(), role, v),
        None => {}
    }
}

fn chat(body: &Value, out: &mut Vec<Part>) {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return;
    };
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        content(
            m.get("content"),
            &format!("/messages/{i}/content"),
            role,
            out,
        );
    }
}

/// A message's content: a string, or parts with text.
fn content(c: Option<&Value>, pointer: &str, role: &str, out: &mut Vec<Part>) {
    match c {
        Some(Value::String(_)) => push(out, pointer.to_string(), role, c.expect("some")),
        Some(Value::Array(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                for key in ["text", "output", "refusal"] {
                    if let Some(v) = p.get(key) {
                        push(out, format!("{pointer}/{j}/{key}"), role, v)
                    }
                }
            }
        }
        _ => {}
    }
}

fn responses(body: &Value, out: &mut Vec<Part>) {
    push(
        out,
        "/instructions".into(),
        "system",
        body.get("instructions").unwrap_or(&Value::Null),
    );
    match body.get("input") {
        Some(Value::String(_)) => push(out, "/input".into(), "user", &body["input"]),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("/input/{i}");
                match item.get("type").and_then(Value::as_str) {
                    Some(
                        "function_call_output" | "custom_tool_call_output" | "mcp_call_output",
                    ) => push(
                        out,
                        format!("{at}/output"),
                        "tool",
                        item.get("output").unwrap_or(&Value::Null),
                    ),
                    _ => {
                        let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
                        content(item.get("content"), &format!("{at}/content"), role, out)
                    }
                }
            }
        }
        _ => {}
    }
}

/// Put `text` at `pointer` of `body`.
pub fn replace(body: &mut Value, pointer: &str, text: &str) {
    if let Some(v) = body.pointer_mut(pointer) {
        *v = Value::String(text.to_string());
    }
}

/// The texts of a non-streaming response the model wrote, with pointers:
/// chat `choices[].message.content`, completions `choices[].text`,
/// Responses `output[].content[].text`.
pub fn response_parts(api: Api, body: &Value) -> Vec<Part> {
    let mut out = Vec::new();
    match api {
        Api::Chat | Api::Completions => {
            for (i, c) in body
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                push(
                    &mut out,
                    format!("/choices/{i}/message/content"),
                    "assistant",
                    c.pointer("/message/content").unwrap_or(&Value::Null),
                );
                push(
                    &mut out,
                    format!("/choices/{i}/text"),
                    "assistant",
                    c.get("text").unwrap_or(&Value::Null),
                );
            }
        }
        Api::Responses => {
            for (i, o) in body
                .get("output")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                content(
                    o.get("content"),
                    &format!("/output/{i}/content"),
                    "assistant",
                    &mut out,
                );
            }
        }
        Api::Embeddings => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_and_responses_texts_with_roles() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "result"}
        ]});
        let p = parts(Api::of_path("/v1/chat/completions").unwrap(), &body);
        let got: Vec<(&str, &str, &str)> = p
            .iter()
            .map(|p| (p.pointer.as_str(), p.role.as_str(), p.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/messages/0/content", "system", "be nice"),
                ("/messages/1/content/0/text", "user", "hi"),
                ("/messages/2/content", "tool", "result")
            ]
        );
        let body = json!({"instructions": "sys", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "q"}]},
            {"type": "function_call_output", "call_id": "c", "output": "tool says"}
        ]});
        let p = parts(Api::Responses, &body);
        assert_eq!(
            p.iter().map(|p| p.role.as_str()).collect::<Vec<_>>(),
            ["system", "user", "tool"]
        );
        let mut b = body.clone();
        replace(&mut b, "/input/1/output", "clean");
        assert_eq!(b["input"][1]["output"], "clean");
        assert_eq!(
            parts(Api::Completions, &json!({"prompt": ["a", "b"]})).len(),
            2
        );
        assert_eq!(Api::of_path("/v1/models"), None);
    }
}
