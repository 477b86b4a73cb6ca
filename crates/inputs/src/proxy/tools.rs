//! Tool calls against the tools a request declares: a call's `arguments`
//! must be JSON matching the tool's `parameters` schema, and its name one
//! the request declares (IN0003 `schema-violation`). Checked in the model's
//! answer before the application runs the tool, and in the history a
//! request sends back.
//!
//! Chat completions declare `tools[].function.{name, parameters}` and call
//! through `tool_calls[].function.{name, arguments}` (in
//! `choices[].message` of an answer, in assistant `messages` of a request);
//! the Responses API declares `tools[]` of type `function` with `name` and
//! `parameters`, and calls with `function_call` items (`output[]`,
//! `input[]`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::messages::Api;

/// The tools a request declares: name → the compiled schema of its
/// parameters (`None`: it declares none, any object passes).
pub struct Declared {
    tools: BTreeMap<String, Option<jsonschema::Validator>>,
    /// Schemas that did not compile: name → why (calls of them fail).
    broken: BTreeMap<String, String>,
}

/// One tool call: where its arguments are, the tool, the arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// JSON pointer of the `arguments` string.
    pub pointer: String,
    /// The tool called.
    pub name: String,
    /// The arguments as sent (a JSON text).
    pub arguments: String,
}

impl Declared {
    /// The function tools of a request body, if it declares any.
    pub fn of(api: Api, body: &Value) -> Option<Declared> {
        let tools = body.get("tools")?.as_array()?;
        let mut d = Declared {
            tools: BTreeMap::new(),
            broken: BTreeMap::new(),
        };
        for t in tools {
            if t.get("type").and_then(Value::as_str) != Some("function") {
                continue;
            }
            let f = match api {
                Api::Chat => t.get("function").unwrap_or(&Value::Null),
                _ => t,
            };
            let Some(name) = f.get("name").and_then(Value::as_str) else {
                continue;
            };
            match f.get("parameters").map(jsonschema::validator_for) {
                None => {
                    d.tools.insert(name.to_string(), None);
                }
                Some(Ok(v)) => {
                    d.tools.insert(name.to_string(), Some(v));
                }
                Some(Err(e)) => {
                    d.broken.insert(name.to_string(), e.to_string());
                }
            }
        }
        (!d.tools.is_empty() || !d.broken.is_empty()).then_some(d)
    }

    /// Why a call breaks the declaration, if it does.
    pub fn violation(&self, call: &Call) -> Option<String> {
        if let Some(why) = self.broken.get(&call.name) {
            return Some(format!(
                "the parameters schema of tool {:?} is not valid: {why}",
                call.name
            ));
        }
        let Some(schema) = self.tools.get(&call.name) else {
            return Some(format!(
                "calls tool {:?}, which the request does not declare",
                call.name
            ));
        };
        let args: Value = match serde_json::from_str(&call.arguments) {
            Ok(v) => v,
            Err(e) => return Some(format!("arguments of {:?} are not JSON: {e}", call.name)),
        };
        let errors: Vec<String> = schema
            .iter()
            .flat_map(|s| s.iter_errors(&args))
            .take(8)
            .map(|e| crate::structured::describe(&e))
            .collect();
        (!errors.is_empty()).then(|| {
            format!(
                "arguments of {:?} break its parameters schema: {}",
                call.name,
                errors.join("; ")
            )
        })
    }
}

/// The tool calls of a request's history.
pub fn request_calls(api: Api, body: &Value) -> Vec<Call> {
    let mut out = Vec::new();
    match api {
        Api::Chat => {
            for (i, m) in array(body.get("messages")).enumerate() {
                chat_calls(m, &format!("/messages/{i}"), &mut out);
            }
        }
        Api::Responses => {
            for (i, item) in array(body.get("input")).enumerate() {
                function_call(item, &format!("/input/{i}"), &mut out);
            }
        }
        _ => {}
    }
    out
}

/// The tool calls of a model's non-streaming answer.
pub fn response_calls(api: Api, body: &Value) -> Vec<Call> {
    let mut out = Vec::new();
    match api {
        Api::Chat => {
            for (i, c) in array(body.get("choices")).enumerate() {
                if let Some(m) = c.get("message") {
                    chat_calls(m, &format!("/choices/{i}/message"), &mut out);
                }
            }
        }
        Api::Responses => {
            for (i, item) in array(body.get("output")).enumerate() {
                function_call(item, &format!("/output/{i}"), &mut out);
            }
        }
        _ => {}
    }
    out
}

fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn chat_calls(message: &Value, at: &str, out: &mut Vec<Call>) {
    for (j, c) in array(message.get("tool_calls")).enumerate() {
        let f = c.get("function").unwrap_or(&Value::Null);
        if let (Some(name), Some(arguments)) = (
            f.get("name").and_then(Value::as_str),
            f.get("arguments").and_then(Value::as_str),
        ) {
            out.push(Call {
                pointer: format!("{at}/tool_calls/{j}/function/arguments"),
                name: name.to_string(),
                arguments: arguments.to_string(),
            });
        }
    }
}

fn function_call(item: &Value, at: &str, out: &mut Vec<Call>) {
    if item.get("type").and_then(Value::as_str) != Some("function_call") {
        return;
    }
    if let (Some(name), Some(arguments)) = (
        item.get("name").and_then(Value::as_str),
        item.get("arguments").and_then(Value::as_str),
    ) {
        out.push(Call {
            pointer: format!("{at}/arguments"),
            name: name.to_string(),
            arguments: arguments.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weather() -> Value {
        json!({"type": "object", "required": ["city"], "additionalProperties": false,
               "properties": {"city": {"type": "string", "maxLength": 40}}})
    }

    #[test]
    fn chat_calls_against_chat_declarations() {
        let req = json!({"tools": [{"type": "function", "function": {"name": "weather", "parameters": weather()}}]});
        let d = Declared::of(Api::Chat, &req).unwrap();
        let answer = json!({"choices": [{"message": {"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}},
            {"id": "b", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\", \"cmd\": \"id\"}"}},
            {"id": "c", "type": "function", "function": {"name": "shell", "arguments": "{}"}},
            {"id": "d", "type": "function", "function": {"name": "weather", "arguments": "{city: Oslo}"}}
        ]}}]});
        let calls = response_calls(Api::Chat, &answer);
        assert_eq!(calls.len(), 4);
        assert_eq!(
            calls[1].pointer,
            "/choices/0/message/tool_calls/1/function/arguments"
        );
        let why: Vec<_> = calls.iter().map(|c| d.violation(c)).collect();
        assert_eq!(why[0], None);
        assert!(
            why[1]
                .as_deref()
                .unwrap()
                .contains("break its parameters schema"),
            "{why:?}"
        );
        assert!(
            why[2].as_deref().unwrap().contains("does not declare"),
            "{why:?}"
        );
        assert!(why[3].as_deref().unwrap().contains("not JSON"), "{why:?}");
    }

    #[test]
    fn responses_calls_and_history() {
        let req = json!({"tools": [{"type": "function", "name": "weather", "parameters": weather()},
                                   {"type": "web_search"}],
                         "input": [{"type": "function_call", "name": "weather", "call_id": "x",
                                    "arguments": "{\"city\": 3}"}]});
        let d = Declared::of(Api::Responses, &req).unwrap();
        let history = request_calls(Api::Responses, &req);
        assert_eq!(history[0].pointer, "/input/0/arguments");
        assert!(d.violation(&history[0]).is_some());
        assert!(Declared::of(Api::Chat, &json!({"messages": []})).is_none());
    }
}
