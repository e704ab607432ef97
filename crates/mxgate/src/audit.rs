//! The audit log: one JSON line per rejected (or, in report mode,
//! would-be-rejected) request.
//!
//! Records go through a bounded channel to a writer task, so the request
//! path never waits on the disk. Lines are appended to `[gateway] audit_log`
//! or, when it is unset, logged through `tracing` (target `mxgate::audit`).

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use tokio::{io::AsyncWriteExt, sync::mpsc, task::JoinHandle};

use crate::status::{Direction, StatusBoard};

/// How many records may wait for the writer before new ones are dropped.
const QUEUE: usize = 4096;

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// X-Matrix origin, when known.
    pub origin: Option<String>,
    /// Destination server name, when known.
    pub destination: Option<String>,
    /// Request method.
    pub method: String,
    /// Raw request path (without query string: it may carry tokens).
    pub path: String,
    /// Endpoint class (`unknown` before classification).
    pub endpoint: &'static str,
    /// `rejected` or `would_reject`.
    pub verdict: &'static str,
    /// Reason label (the same as the metric's).
    pub reason: &'static str,
    /// HTTP status sent (or that would have been sent).
    pub status: u16,
}

/// Handle used by the request path to emit audit records.
#[derive(Debug)]
pub struct Audit {
    sender: mpsc::Sender<AuditRecord>,
    dropped: AtomicU64,
    status: Arc<StatusBoard>,
}

/// The audit log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open audit log {path}: {source}")]
pub struct AuditError {
    /// The configured path.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

impl AuditError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        "audit_log_open"
    }
}

impl Audit {
    /// Opens the sink (appending to `path`, or `tracing` when `None`) and
    /// starts the writer task. The task ends when every `Audit` is dropped.
    pub async fn start(path: Option<PathBuf>) -> Result<(Audit, JoinHandle<()>), AuditError> {
        let file = match &path {
            Some(path) => Some(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|source| AuditError {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let (sender, receiver) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_records(receiver, file));
        Ok((
            Audit {
                sender,
                dropped: AtomicU64::new(0),
                status: Arc::new(StatusBoard::new(now_ms())),
            },
            task,
        ))
    }

    /// Counts the refusal on the status board and queues the record; drops it (and counts the drop) if the writer is behind.
    pub fn record(&self, record: AuditRecord) {
        self.status.refusal(&record);
        if self.sender.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an accepted request to or from the remote `server` on the
    /// status board (accepted requests are not written to the audit log).
    pub fn accepted(&self, direction: Direction, server: Option<&str>) {
        self.status
            .record(direction, server, "accepted", "ok", now_ms());
    }

    /// The status board fed by this audit sink (served on the admin listener).
    pub fn status(&self) -> &Arc<StatusBoard> {
        &self.status
    }

    /// Records dropped because the writer was behind or gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn write_records(
    mut receiver: mpsc::Receiver<AuditRecord>,
    mut file: Option<tokio::fs::File>,
) {
    let mut line = Vec::with_capacity(512);
    while let Some(record) = receiver.recv().await {
        line.clear();
        if serde_json::to_writer(&mut line, &record).is_err() {
            continue;
        }
        line.push(b'\n');
        match &mut file {
            Some(file) => {
                if let Err(error) = file.write_all(&line).await {
                    tracing::error!(%error, "audit log write failed");
                }
            }
            None => {
                tracing::info!(target: "mxgate::audit", "{}", String::from_utf8_lossy(&line[..line.len() - 1]))
            }
        }
        if receiver.is_empty()
            && let Some(file) = &mut file
            && let Err(error) = file.flush().await
        {
            tracing::error!(%error, "audit log flush failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_one_json_line_per_record() {
        let dir = std::env::temp_dir().join(format!("mxgate-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&path);
        let (audit, task) = Audit::start(Some(path.clone())).await.unwrap();
        for status in [401, 403] {
            audit.record(AuditRecord {
                ts: 1,
                direction: "inbound",
                origin: Some("remote.example".into()),
                destination: None,
                method: "PUT".into(),
                path: "/_matrix/federation/v1/send/1".into(),
                endpoint: "send",
                verdict: "rejected",
                reason: "bad_signature",
                status,
            });
        }
        drop(audit);
        task.await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["origin"], "remote.example");
        assert_eq!(lines[1]["status"], 403);
        assert_eq!(lines[0]["destination"], serde_json::Value::Null);
    }
}
