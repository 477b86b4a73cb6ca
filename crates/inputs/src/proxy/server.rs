//! The proxy's HTTP side: accept, check, forward, log.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::{Value, json};

use super::messages::{self, Api, Part};
use super::tools::{self, Declared};
use crate::config::Profile;
use crate::hit::Action;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, Error>;
type HttpClient =
    Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Body>;

/// Where requests go: a base URL (`http://127.0.0.1:8000`, or with a path
/// prefix the request's path is appended to).
#[derive(Debug, Clone)]
pub struct Upstream {
    scheme: String,
    authority: String,
    prefix: String,
}

impl Upstream {
    /// Parse an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Upstream, String> {
        let uri: Uri = url.parse().map_err(|e| format!("upstream {url:?}: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("");
        if scheme != "http" && scheme != "https" {
            return Err(format!("upstream {url:?}: use an http:// or https:// URL"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("upstream {url:?} has no host"))?;
        Ok(Upstream {
            scheme: scheme.into(),
            authority: authority.to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme(self.scheme.as_str())
            .authority(self.authority.as_str())
            .path_and_query(format!("{}{}", self.prefix, path_and_query))
            .build()
    }
}

/// How the proxy runs.
pub struct ProxyOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The model server.
    pub upstream: Upstream,
    /// The profile each role's texts are checked with; roles not listed
    /// pass unchecked.
    pub roles: BTreeMap<String, Profile>,
    /// Roles per request path prefix, longest first: the first prefix of
    /// a request's path decides instead of `roles`.
    pub routes: Vec<(String, BTreeMap<String, Profile>)>,
    /// The profile for the model's answers (non-streaming), if they are
    /// checked.
    pub output: Option<Profile>,
    /// Request and checked response bodies larger than this are refused.
    pub max_body: usize,
    /// How long an upstream exchange may take.
    pub timeout: Duration,
    /// Where decisions are logged, a JSON line each.
    pub log: Box<dyn Write + Send>,
}

struct State {
    upstream: Upstream,
    roles: BTreeMap<String, Profile>,
    routes: Vec<(String, BTreeMap<String, Profile>)>,
    output: Option<Profile>,
    max_body: usize,
    timeout: Duration,
    log: Mutex<Box<dyn Write + Send>>,
    client: HttpClient,
}

/// Connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 1024;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serve until interrupted (SIGINT or SIGTERM); `ready` is told the bound
/// address first.
pub fn run(opts: ProxyOptions, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        ready(listener.local_addr()?);
        let state = Arc::new(state(opts));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            tokio::select! {
                slot = slots.clone().acquire_owned() => {
                    let slot = slot.expect("the semaphore is never closed");
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| handle(req, state.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                        drop(slot);
                    });
                }
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
        }
        Ok(())
    })
}

impl State {
    /// The roles' profiles for a request path: its longest `[proxy.routes]`
    /// prefix's (named in the log entry), or `[proxy.roles]`.
    fn roles_for(&self, path: &str, entry: &mut Value) -> &BTreeMap<String, Profile> {
        let path = path.split('?').next().unwrap_or("");
        match self
            .routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
        {
            Some((prefix, roles)) => {
                entry["route"] = prefix.as_str().into();
                roles
            }
            None => &self.roles,
        }
    }
}

fn state(opts: ProxyOptions) -> State {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    State {
        upstream: opts.upstream,
        roles: opts.roles,
        routes: opts.routes,
        output: opts.output,
        max_body: opts.max_body,
        timeout: opts.timeout,
        log: Mutex::new(opts.log),
        client: Client::builder(TokioExecutor::new()).build(https),
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An OpenAI-style error.
fn error(
    status: StatusCode,
    code: &str,
    message: String,
    param: Option<&str>,
    findings: Value,
) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code, "airlock": {"findings": findings}}}),
    )
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let path = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let method = req.method().clone();
    let api = (method == Method::POST)
        .then(|| Api::of_path(&path))
        .flatten();
    let mut entry = json!({"method": method.as_str(), "path": path});
    let response = match api {
        None => {
            forward(
                &state,
                req.map(|b| b.map_err(Error::from).boxed()),
                &path,
                None,
                &mut entry,
            )
            .await
        }
        Some(api) => checked(&state, req, api, &path, &mut entry).await,
    };
    entry["status"] = response.status().as_u16().into();
    entry["ms"] = ((started.elapsed().as_secs_f64() * 1e5).round() / 100.0).into();
    log(&state, entry);
    Ok(response)
}

fn log(state: &State, mut entry: Value) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    entry["time"] = ((now * 1000.0).round() / 1000.0).into();
    if let Ok(mut w) = state.log.lock() {
        let _ = writeln!(w, "{entry}");
        let _ = w.flush();
    }
}

/// A request whose body carries inputs: read, check, then forward or
/// refuse.
async fn checked(
    state: &State,
    req: Request<Incoming>,
    api: Api,
    path: &str,
    entry: &mut Value,
) -> Response<Body> {
    let (head, body) = req.into_parts();
    let read =
        tokio::time::timeout(state.timeout, Limited::new(body, state.max_body).collect()).await;
    let bytes = match read.unwrap_or_else(|_| Err("the client did not send it in time".into())) {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            entry["decision"] = "refused".into();
            let too_big = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let (status, msg) = if too_big {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {} bytes", state.max_body),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the request body could not be read: {e}"),
                )
            };
            return error(status, "request_too_large", msg, None, json!([]));
        }
    };
    let mut body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            entry["decision"] = "refused".into();
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the request body is not JSON: {e}"),
                None,
                json!([]),
            );
        }
    };
    let declared = Declared::of(api, &body);
    let roles = state.roles_for(path, entry);
    let mut check = check_parts(roles, &messages::parts(api, &body));
    if let Some(d) = &declared {
        let action = tool_action(roles.get("tool"));
        check_calls(
            &mut check,
            d,
            &tools::request_calls(api, &body),
            "assistant",
            action,
        );
    }
    entry["findings"] = check.findings.clone();
    entry["check_us"] = check.micros.into();
    if let Some((pointer, why)) = &check.blocked {
        entry["decision"] = "blocked".into();
        let msg = format!("Airlock blocked the request: {pointer}: {why}");
        return error(
            StatusCode::BAD_REQUEST,
            "input_blocked",
            msg,
            Some(pointer),
            check.findings,
        );
    }
    let out = if check.rewrites.is_empty() {
        entry["decision"] = "forwarded".into();
        bytes
    } else {
        entry["decision"] = "sanitised".into();
        for (pointer, text) in &check.rewrites {
            messages::replace(&mut body, pointer, text);
        }
        Bytes::from(body.to_string())
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let output = (!stream && (state.output.is_some() || declared.is_some())).then(|| OutputCheck {
        api,
        profile: state.output.as_ref(),
        tools: declared,
    });
    forward(
        state,
        Request::from_parts(head, full(out)),
        path,
        output,
        entry,
    )
    .await
}

/// What is checked in a model's non-streaming answer: its texts (the
/// output profile) and its tool calls (the request's declared tools).
struct OutputCheck<'a> {
    api: Api,
    profile: Option<&'a Profile>,
    tools: Option<Declared>,
}

/// What a profile does with a tool call that breaks the declaration
/// (IN0003; blocked unless the profile says otherwise).
fn tool_action(profile: Option<&Profile>) -> Option<Action> {
    match profile {
        Some(p) => p.action(airlock_policy::Rule::SchemaViolation),
        None => Some(Action::Block),
    }
}

/// Tool calls against the declared tools, into `c`.
fn check_calls(
    c: &mut PartsCheck,
    declared: &Declared,
    calls: &[tools::Call],
    role: &str,
    action: Option<Action>,
) {
    let Some(action) = action else {
        return;
    };
    let rule = airlock_policy::Rule::SchemaViolation;
    for call in calls {
        let Some(why) = declared.violation(call) else {
            continue;
        };
        c.findings.as_array_mut().expect("array").push(json!({
            "pointer": call.pointer, "role": role, "rule": rule.id(), "name": rule.name(),
            "score": 1.0, "action": action.name(), "message": why,
        }));
        if action == Action::Block && c.blocked.is_none() {
            c.blocked = Some((
                call.pointer.clone(),
                format!("{} {}: {why}", rule.id(), rule.name()),
            ));
        }
    }
}

/// What the checks of a request's texts decided.
struct PartsCheck {
    findings: Value,
    blocked: Option<(String, String)>,
    rewrites: Vec<(String, String)>,
    micros: u64,
}

fn check_parts(roles: &BTreeMap<String, Profile>, parts: &[Part]) -> PartsCheck {
    let started = Instant::now();
    let mut c = PartsCheck {
        findings: json!([]),
        blocked: None,
        rewrites: Vec::new(),
        micros: 0,
    };
    for p in parts {
        let Some(profile) = roles.get(&p.role) else {
            continue;
        };
        let o = crate::check(&p.text, profile);
        for h in &o.hits {
            c.findings.as_array_mut().expect("array").push(json!({
                "pointer": p.pointer, "role": p.role, "rule": h.rule.id(), "name": h.rule.name(),
                "score": (h.score * 1000.0).round() / 1000.0, "action": h.action.name(), "message": h.message,
            }));
            if h.action == Action::Block && c.blocked.is_none() {
                c.blocked = Some((
                    p.pointer.clone(),
                    format!("{} {}: {}", h.rule.id(), h.rule.name(), h.message),
                ));
            }
        }
        if o.valid && o.sanitized != p.text {
            c.rewrites.push((p.pointer.clone(), o.sanitized));
        }
    }
    c.micros = started.elapsed().as_micros() as u64;
    c
}

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn clean_headers(h: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(*name);
    }
}

/// Send `req` upstream and return its answer, streamed; with `output`, a
/// JSON answer is read and its texts checked first.
async fn forward(
    state: &State,
    mut req: Request<Body>,
    path: &str,
    output: Option<OutputCheck<'_>>,
    entry: &mut Value,
) -> Response<Body> {
    if entry.get("decision").is_none() {
        entry["decision"] = "passed".into();
    }
    let uri = match state.upstream.uri(path) {
        Ok(u) => u,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_path",
                format!("cannot forward {path}: {e}"),
                None,
                json!([]),
            );
        }
    };
    *req.uri_mut() = uri;
    clean_headers(req.headers_mut());
    req.headers_mut().remove(header::HOST);
    req.headers_mut().remove(header::CONTENT_LENGTH);
    let sent = tokio::time::timeout(state.timeout, state.client.request(req)).await;
    let resp = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                format!("the model server could not be reached: {e}"),
                None,
                json!([]),
            );
        }
        Err(_) => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                format!(
                    "the model server did not answer within {} s",
                    state.timeout.as_secs()
                ),
                None,
                json!([]),
            );
        }
    };
    let (mut head, body) = resp.into_parts();
    clean_headers(&mut head.headers);
    match output {
        Some(check) if head.status.is_success() => {
            head.headers.remove(header::CONTENT_LENGTH);
            checked_output(state, head, body, check, entry).await
        }
        _ => Response::from_parts(head, body.map_err(Error::from).boxed()),
    }
}

/// A model's non-streaming answer, checked with the output profile.
async fn checked_output(
    state: &State,
    head: hyper::http::response::Parts,
    body: Incoming,
    out: OutputCheck<'_>,
    entry: &mut Value,
) -> Response<Body> {
    let bytes =
        match tokio::time::timeout(state.timeout, Limited::new(body, state.max_body).collect())
            .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            _ => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreadable",
                    "the model server's answer could not be read whole".into(),
                    None,
                    json!([]),
                );
            }
        };
    let Ok(mut body) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(head, full(bytes));
    };
    let roles: BTreeMap<String, Profile> = out
        .profile
        .map(|p| ("assistant".to_string(), p.clone()))
        .into_iter()
        .collect();
    let mut check = check_parts(&roles, &messages::response_parts(out.api, &body));
    if let Some(d) = &out.tools {
        let calls = tools::response_calls(out.api, &body);
        check_calls(&mut check, d, &calls, "assistant", tool_action(out.profile));
    }
    entry["output_findings"] = check.findings.clone();
    if let Some((pointer, why)) = check.blocked {
        entry["decision"] = "output-blocked".into();
        return error(
            StatusCode::BAD_GATEWAY,
            "output_blocked",
            format!("Airlock blocked the model's answer: {pointer}: {why}"),
            Some(&pointer),
            check.findings,
        );
    }
    if check.rewrites.is_empty() {
        return Response::from_parts(head, full(bytes));
    }
    entry["decision"] = "output-sanitised".into();
    for (pointer, text) in &check.rewrites {
        messages::replace(&mut body, pointer, text);
    }
    Response::from_parts(head, full(body.to_string()))
}
