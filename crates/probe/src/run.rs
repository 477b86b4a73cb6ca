//! Running a suite: attacks sent concurrently, at a bounded rate, retried
//! with back-off, scored as they come back, and written to a JSON Lines
//! transcript from which an interrupted run resumes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::detect::{Outcome, score};
use crate::families::{Family, Goal};
use crate::mutate::Mutation;
use crate::suite::{Attack, Suite};
use crate::target::{Reply, SendError, Target};

/// How a suite is run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// At most this many requests per second (none: as fast as answered).
    pub rate: Option<f64>,
    /// Further tries of a request that failed transiently.
    pub retries: u32,
    /// The run stops after this many attacks in a row got no answer.
    pub max_consecutive_failures: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 8,
            rate: None,
            retries: 3,
            max_consecutive_failures: 10,
        }
    }
}

/// One attack's result, a line of the transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The attack's id.
    pub id: String,
    /// Its family.
    pub family: Family,
    /// Its mutation.
    pub mutation: Mutation,
    /// Its goal.
    pub goal: Goal,
    /// The model's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Why a guard refused the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// What the detectors found in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why there is no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Requests sent.
    pub attempts: u32,
    /// Milliseconds from the first request to the answer.
    pub ms: u64,
}

impl Record {
    /// Whether the attack reached its goal.
    pub fn success(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.success)
    }
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The target failed too many attacks in a row.
    #[error("stopped: the target failed {count} attacks in a row; the last error: {last}")]
    TargetDown {
        /// How many.
        count: usize,
        /// The last error.
        last: String,
    },
}

/// Run every attack not in `done`; `on_record` sees each result as it
/// arrives (to write the transcript and show progress). Returns all
/// results, `done` included, in the suite's order.
pub fn run(
    suite: &Suite,
    target: &dyn Target,
    opts: &RunOptions,
    done: &HashMap<String, Record>,
    mut on_record: impl FnMut(&Record),
) -> Result<Vec<Record>, RunError> {
    let todo: Vec<usize> = (0..suite.attacks.len())
        .filter(|&i| !done.contains_key(&suite.attacks[i].id))
        .collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let pace = Pacer::new(opts.rate);
    let (tx, rx) = mpsc::channel::<(usize, Record)>();
    let mut fresh: HashMap<usize, Record> = HashMap::new();
    let mut streak = 0;
    let mut down = None;
    std::thread::scope(|s| {
        for _ in 0..opts.concurrency.clamp(1, 256).min(todo.len().max(1)) {
            let tx = tx.clone();
            let (todo, next, stop, pace) = (&todo, &next, &stop, &pace);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let rec = attempt(suite, &suite.attacks[i], target, opts, pace);
                    if tx.send((i, rec)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, rec) in rx {
            on_record(&rec);
            streak = if rec.error.is_some() { streak + 1 } else { 0 };
            if streak >= opts.max_consecutive_failures.max(1) && down.is_none() {
                stop.store(true, Ordering::Relaxed);
                down = Some(RunError::TargetDown {
                    count: streak,
                    last: rec.error.clone().unwrap_or_default(),
                });
            }
            fresh.insert(i, rec);
        }
    });
    if let Some(e) = down {
        return Err(e);
    }
    Ok(suite
        .attacks
        .iter()
        .enumerate()
        .filter_map(|(i, a)| fresh.remove(&i).or_else(|| done.get(&a.id).cloned()))
        .collect())
}

/// Send one attack, retrying transient failures with back-off.
fn attempt(
    suite: &Suite,
    attack: &Attack,
    target: &dyn Target,
    opts: &RunOptions,
    pace: &Pacer,
) -> Record {
    let start = Instant::now();
    let mut rec = Record {
        id: attack.id.clone(),
        family: attack.family,
        mutation: attack.mutation,
        goal: attack.goal,
        reply: None,
        blocked: None,
        outcome: None,
        error: None,
        attempts: 0,
        ms: 0,
    };
    loop {
        pace.wait();
        rec.attempts += 1;
        match target.send(suite, attack) {
            Ok(Reply::Answer(text)) => {
                let o = score(
                    &text,
                    attack.goal,
                    attack.marker.as_deref(),
                    &suite.canary,
                    &suite.exfil_host,
                );
                rec.outcome = Some(o);
                rec.reply = Some(text);
                break;
            }
            Ok(Reply::Blocked(why)) => {
                rec.blocked = Some(why);
                break;
            }
            Err(SendError::Transient {
                message,
                retry_after,
            }) if rec.attempts <= opts.retries => {
                let backoff = Duration::from_millis(250 << (rec.attempts - 1).min(5));
                std::thread::sleep(retry_after.unwrap_or(backoff).min(Duration::from_secs(60)));
                rec.error = Some(message);
            }
            Err(e) => {
                rec.error = Some(e.to_string());
                break;
            }
        }
    }
    if rec.reply.is_some() || rec.blocked.is_some() {
        rec.error = None;
    }
    rec.ms = start.elapsed().as_millis() as u64;
    rec
}

/// Spaces requests `1 / rate` seconds apart across all workers.
struct Pacer {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            interval: rate
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Mutex::new(Instant::now()),
        }
    }

    fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
    }
}

/// The first line of a transcript.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// Always `airlock-probe-transcript`.
    pub kind: String,
    /// The suite's fingerprint.
    pub fingerprint: String,
    /// The suite's seed.
    pub seed: u64,
    /// The target.
    pub target: String,
}

/// Why a transcript cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The transcript.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not a transcript, or a line is damaged.
    #[error("{path}, line {line}: {message}")]
    Malformed {
        /// The transcript.
        path: String,
        /// The line (from 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Written for another suite.
    #[error(
        "{path} is the transcript of another suite (fingerprint {theirs:.12}, this suite's {ours:.12}): the seed, options, system prompt or Airlock's version differ; start a new transcript"
    )]
    OtherSuite {
        /// The transcript.
        path: String,
        /// Its fingerprint.
        theirs: String,
        /// This suite's.
        ours: String,
    },
}

/// The answered attacks of a transcript of `suite` (errors are sent
/// again). A last line cut short by an interruption is ignored.
pub fn load_transcript(
    path: &Path,
    suite: &Suite,
) -> Result<HashMap<String, Record>, TranscriptError> {
    let name = path.display().to_string();
    let io = |source| TranscriptError::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io)?;
    let malformed = |line, message: String| TranscriptError::Malformed {
        path: name.clone(),
        line,
        message,
    };
    let header: Header = lines
        .first()
        .and_then(|l| serde_json::from_str(l).ok())
        .filter(|h: &Header| h.kind == TRANSCRIPT_KIND)
        .ok_or_else(|| malformed(1, "not an airlock probe transcript".into()))?;
    if header.fingerprint != suite.fingerprint {
        return Err(TranscriptError::OtherSuite {
            path: name.clone(),
            theirs: header.fingerprint,
            ours: suite.fingerprint.clone(),
        });
    }
    let mut done = HashMap::new();
    for (n, line) in lines.iter().enumerate().skip(1) {
        match serde_json::from_str::<Record>(line) {
            Ok(r) if r.error.is_none() => {
                done.insert(r.id.clone(), r);
            }
            Ok(_) => {}
            Err(_) if n + 1 == lines.len() => {}
            Err(e) => return Err(malformed(n + 1, e.to_string())),
        }
    }
    Ok(done)
}

/// The transcript header's `kind`.
pub const TRANSCRIPT_KIND: &str = "airlock-probe-transcript";

/// Write a transcript's header.
pub fn write_header(out: &mut dyn Write, suite: &Suite, target: &str) -> std::io::Result<()> {
    let h = Header {
        kind: TRANSCRIPT_KIND.into(),
        fingerprint: suite.fingerprint.clone(),
        seed: suite.seed,
        target: target.into(),
    };
    writeln!(out, "{}", serde_json::to_string(&h).expect("serialises"))
}
