//! A test double of GitHub's REST API: a local HTTP server (loopback
//! only, a bounded number of requests) replaying response bodies shaped as
//! GitHub's REST API documents them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

/// The requests a test double saw: path and query, Authorization header.
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serve `routes` (path and query → JSON body; anything else 404) for at
/// most `max` requests; returns the base URL and the requests seen, with
/// their Authorization header.
pub fn replay(routes: HashMap<String, serde_json::Value>, max: usize) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).ok();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.strip_prefix("Authorization: ") {
                    auth = v.trim().to_string();
                }
            }
            log.lock().unwrap().push((path.clone(), auth));
            let (status, body) = match routes.get(&path) {
                Some(b) if b["__status"] == 403 => (
                    "403 Forbidden",
                    json!({"message": "Resource not accessible by integration"}).to_string(),
                ),
                Some(b) => ("200 OK", b.to_string()),
                None => ("404 Not Found", json!({"message": "Not Found"}).to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}
