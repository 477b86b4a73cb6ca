//! Targets: where attacks are sent. An OpenAI-compatible HTTP endpoint (vLLM,
//! llama.cpp's server, Ollama, TGI, `airlock input proxy` in front of any of
//! them) or a command that speaks JSON lines on standard input and output.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::suite::{Attack, Message, Suite};

/// What a target answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The model's text (tool calls' arguments appended).
    Answer(String),
    /// A guard in front of the model refused the request (`airlock input
    /// proxy`'s `input_blocked`).
    Blocked(String),
}

/// Why an attack got no reply.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: a connection failure, a timeout, HTTP 408, 429
    /// or 5xx.
    #[error("{message}")]
    Transient {
        /// What happened.
        message: String,
        /// How long the server asked to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Not worth trying again: the request or the answer is wrong.
    #[error("{0}")]
    Fatal(String),
}

/// Something attacks can be sent to.
pub trait Target: Sync {
    /// Send one attack (with the suite's system prompt) and return the
    /// answer.
    fn send(&self, suite: &Suite, attack: &Attack) -> Result<Reply, SendError>;
    /// What the target is, for reports.
    fn describe(&self) -> String;
}

/// The messages of a request: the system prompt, then the attack's.
pub fn conversation(suite: &Suite, attack: &Attack) -> Vec<Message> {
    let mut all = Vec::with_capacity(attack.messages.len() + 1);
    all.push(Message {
        role: "system".into(),
        content: suite.system_prompt.clone(),
        tool_calls: None,
        tool_call_id: None,
    });
    all.extend(attack.messages.iter().cloned());
    all
}

/// An OpenAI-compatible chat completions endpoint.
pub struct OpenAi {
    agent: ureq::Agent,
    url: String,
    model: String,
    api_key: Option<String>,
    max_tokens: u32,
    tools: Value,
}

/// Answers larger than this are refused (a model's reply is text).
const MAX_ANSWER: u64 = 4 << 20;

impl OpenAi {
    /// A target at `base` (`http://host:port` or `.../v1`, or the full
    /// `.../chat/completions` URL).
    pub fn new(
        base: &str,
        model: &str,
        api_key: Option<String>,
        timeout: Duration,
        tools: Value,
    ) -> Result<OpenAi, String> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "{base}: the target must be an http:// or https:// URL"
            ));
        }
        let base = base.trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_string()
        } else if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(timeout)
            .max_idle_connections_per_host(64)
            .build();
        Ok(OpenAi {
            agent,
            url,
            model: model.into(),
            api_key,
            max_tokens: 512,
            tools,
        })
    }

    fn body(&self, suite: &Suite, attack: &Attack) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": conversation(suite, attack),
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "stream": false,
        });
        if attack.tools {
            body["tools"] = self.tools.clone();
        }
        body
    }
}

impl Target for OpenAi {
    fn send(&self, suite: &Suite, attack: &Attack) -> Result<Reply, SendError> {
        let mut req = self.agent.post(&self.url);
        if let Some(key) = &self.api_key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        match req.send_json(self.body(suite, attack)) {
            Ok(resp) => parse_answer(&read_body(resp)?),
            Err(ureq::Error::Status(code, resp)) => status_outcome(code, resp),
            Err(ureq::Error::Transport(t)) => Err(SendError::Transient {
                message: format!("{}: {t}", self.url),
                retry_after: None,
            }),
        }
    }

    fn describe(&self) -> String {
        format!("{} (model {})", self.url, self.model)
    }
}

fn read_body(resp: ureq::Response) -> Result<Vec<u8>, SendError> {
    let mut buf = Vec::new();
    resp.into_reader()
        .take(MAX_ANSWER + 1)
        .read_to_end(&mut buf)
        .map_err(|e| SendError::Transient {
            message: format!("reading the answer: {e}"),
            retry_after: None,
        })?;
    if buf.len() as u64 > MAX_ANSWER {
        return Err(SendError::Fatal(format!(
            "the answer is larger than {} MiB",
            MAX_ANSWER >> 20
        )));
    }
    Ok(buf)
}

/// An HTTP error status: a guard's refusal (`airlock input proxy`'s
/// `input_blocked`), or an error worth retrying or not.
fn status_outcome(code: u16, resp: ureq::Response) -> Result<Reply, SendError> {
    let retry_after = resp
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let body = read_body(resp).unwrap_or_default();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if code == 400 && v["error"]["code"] == "input_blocked" {
        let why = v["error"]["message"].as_str().unwrap_or("input blocked");
        return Ok(Reply::Blocked(why.to_string()));
    }
    let text = v["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    let message = format!("HTTP {code}: {text}");
    Err(if code == 408 || code == 429 || code >= 500 {
        SendError::Transient {
            message,
            retry_after,
        }
    } else {
        SendError::Fatal(message)
    })
}

/// The text of a chat completion: the first choice's content (a string or
/// a list of text parts), then its tool calls' names and arguments.
pub fn parse_answer(body: &[u8]) -> Result<Reply, SendError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| SendError::Fatal(format!("the answer is not JSON: {e}")))?;
    let msg = &v["choices"][0]["message"];
    if msg.is_null() {
        return Err(SendError::Fatal(
            "the answer has no choices[0].message (not a chat completion)".into(),
        ));
    }
    let mut text = match &msg["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    for call in msg["tool_calls"].as_array().into_iter().flatten() {
        let f = &call["function"];
        text.push_str(&format!(
            "\n[tool call {}({})]",
            f["name"].as_str().unwrap_or("?"),
            f["arguments"].as_str().unwrap_or("")
        ));
    }
    Ok(Reply::Answer(text))
}

/// A command that reads one JSON object per line on standard input
/// (`{"id", "messages", "tools"}`) and writes one per line on standard
/// output (`{"content": "..."}`), one request at a time.
pub struct CommandTarget {
    command: String,
    inner: Mutex<Session>,
    timeout: Duration,
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
    /// Why the session cannot go on: after a broken answer, requests and
    /// answers may be out of step.
    broken: Option<String>,
}

/// Lines longer than this end the session.
const MAX_LINE: usize = 4 << 20;

impl CommandTarget {
    /// Start `command` (through `/bin/sh -c`).
    pub fn start(command: &str, timeout: Duration) -> Result<CommandTarget, String> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{command}: cannot start: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = sync_channel(1);
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                let got = (&mut r).take(MAX_LINE as u64).read_line(&mut line);
                let end = matches!(got, Ok(0) | Err(_));
                if tx.send(got.map(|_| line)).is_err() || end {
                    break;
                }
            }
        });
        Ok(CommandTarget {
            command: command.into(),
            inner: Mutex::new(Session {
                child,
                stdin,
                lines: rx,
                broken: None,
            }),
            timeout,
        })
    }
}

impl Target for CommandTarget {
    fn send(&self, suite: &Suite, attack: &Attack) -> Result<Reply, SendError> {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &s.broken {
            return Err(SendError::Fatal(why.clone()));
        }
        let result = exchange(&mut s, suite, attack, self.timeout);
        if let Err(e) = &result {
            s.broken = Some(format!("{}: {e}", self.command));
        }
        result.map_err(|e| SendError::Fatal(format!("{}: {e}", self.command)))
    }

    fn describe(&self) -> String {
        format!("command: {}", self.command)
    }
}

/// One request and its answer line; any failure breaks the session.
fn exchange(
    s: &mut Session,
    suite: &Suite,
    attack: &Attack,
    timeout: Duration,
) -> Result<Reply, String> {
    let req =
        json!({"id": attack.id, "messages": conversation(suite, attack), "tools": attack.tools});
    writeln!(s.stdin, "{req}")
        .and_then(|()| s.stdin.flush())
        .map_err(|e| format!("cannot write to it: {e}"))?;
    let line = match s.lines.recv_timeout(timeout) {
        Ok(Ok(line)) if line.ends_with('\n') => line,
        Ok(Ok(line)) if line.is_empty() => return Err("it exited".into()),
        Ok(Ok(_)) => return Err(format!("a line longer than {} MiB", MAX_LINE >> 20)),
        Ok(Err(e)) => return Err(format!("reading its output: {e}")),
        Err(RecvTimeoutError::Timeout) => {
            let _ = s.child.kill();
            return Err(format!("no answer within {timeout:?}; stopped"));
        }
        Err(RecvTimeoutError::Disconnected) => return Err("it exited".into()),
    };
    let v: Value =
        serde_json::from_str(&line).map_err(|e| format!("its answer is not a JSON line: {e}"))?;
    match v["content"].as_str() {
        Some(c) => Ok(Reply::Answer(c.to_string())),
        None => Err("its answer has no \"content\" string".into()),
    }
}

impl Drop for CommandTarget {
    fn drop(&mut self) {
        let s = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = s.child.kill();
        let _ = s.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chat_completions_in_their_shapes() {
        let a = br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#;
        assert_eq!(parse_answer(a).unwrap(), Reply::Answer("hi".into()));
        let parts = br#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}"#;
        assert_eq!(parse_answer(parts).unwrap(), Reply::Answer("ab".into()));
        let tools = br#"{"choices":[{"message":{"content":null,"tool_calls":[{"function":{"name":"f","arguments":"{\"x\":1}"}}]}}]}"#;
        let Reply::Answer(t) = parse_answer(tools).unwrap() else {
            panic!()
        };
        assert!(t.contains("f({\"x\":1})"));
        assert!(parse_answer(b"{}").is_err());
        assert!(parse_answer(b"<html>").is_err());
    }
}
