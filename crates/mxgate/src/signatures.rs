//! X-Matrix signature checks, batched per worker lane.
//!
//! A request that reaches its signature check queues it on its lane and
//! yields once. Every other request of the lane that got that far in the
//! same turn of the scheduler queues its own; the first of them to run
//! again checks the whole queue as one Ed25519 batch
//! ([`xmatrix::verify_batch`]: 2.1–2.8× less CPU per signature for 4 to 16
//! signatures of 900 bytes from one server, 1.8–2.3× with a key each;
//! 2.3–3.0× and 2.1–2.5× over 7.5 KB; the same verdicts as one by one) and
//! hands each its verdict.
//! A request alone on its lane makes a batch of one, checked alone, after
//! one extra turn of the scheduler. Off the lanes (tests, tools) and with
//! `[gateway] batch_verify = false` every signature is checked alone.
//!
//! A batch with a bad signature costs the batch plus every signature of it
//! alone (≈ 1.5× checking them alone). So that a forger cannot keep that
//! up, a lane checks its next 256 signatures alone after such a batch.

use std::{
    cell::{Cell, RefCell},
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
};

use bytes::Bytes;
use ed25519_dalek::{Signature, VerifyingKey};
use mxgate_core::xmatrix::{self, SignedBytes};

use crate::{lanes, metrics::Metrics};

/// Signatures checked in one batch at most; a longer queue is split.
const MAX_BATCH: usize = 32;

/// Signatures a lane checks alone after a batch that held a bad one.
const ALONE_AFTER_BAD_BATCH: u32 = 256;

thread_local! {
    /// The checks queued on this lane and not yet run.
    static QUEUE: RefCell<Vec<Job>> = const { RefCell::new(Vec::new()) };
    /// Signatures still to check alone since the last bad batch.
    static ALONE: Cell<u32> = const { Cell::new(0) };
}

/// The signed bytes of a request, in the three pieces of
/// [`SignedBytes::message`], each shared, not copied: for a canonical body
/// `{"content":`, the body as received, the rest.
pub type Message = [Bytes; 3];

/// One queued check.
struct Job {
    message: Message,
    signature: Signature,
    key: VerifyingKey,
    verdict: Arc<Verdict>,
}

/// A job's outcome, written by whichever request runs the batch.
#[derive(Default)]
struct Verdict(AtomicU8);

const PENDING: u8 = 0;
const VALID: u8 = 1;
const INVALID: u8 = 2;

impl Verdict {
    fn set(&self, valid: bool) {
        self.0
            .store(if valid { VALID } else { INVALID }, Ordering::Release);
    }

    fn get(&self) -> Option<bool> {
        match self.0.load(Ordering::Acquire) {
            PENDING => None,
            state => Some(state == VALID),
        }
    }
}

/// Whether `signature` by `key` covers `message`; with `batch`, checked in
/// a batch with the lane's other pending checks.
pub async fn verify(
    message: Message,
    signature: Signature,
    key: VerifyingKey,
    batch: bool,
    metrics: &Metrics,
) -> bool {
    if !batch || !lanes::on_lane() || take_alone() {
        metrics.signatures_checked(1);
        return signed(&message, &signature, &key).verify_strict();
    }
    let verdict = Arc::new(Verdict::default());
    QUEUE.with(|queue| {
        queue.borrow_mut().push(Job {
            message,
            signature,
            key,
            verdict: verdict.clone(),
        });
    });
    tokio::task::yield_now().await;
    if let Some(valid) = verdict.get() {
        return valid;
    }
    run_queue(metrics);
    // Our job was still queued, so `run_queue` decided it; fail closed
    // should that ever not hold.
    verdict.get().unwrap_or(false)
}

/// Checks every queued job, in batches of at most [`MAX_BATCH`].
fn run_queue(metrics: &Metrics) {
    let jobs = QUEUE.with(|queue| std::mem::take(&mut *queue.borrow_mut()));
    for chunk in jobs.chunks(MAX_BATCH) {
        let items: Vec<SignedBytes<'_>> = chunk
            .iter()
            .map(|job| signed(&job.message, &job.signature, &job.key))
            .collect();
        let verdicts = xmatrix::verify_batch(&items);
        metrics.signatures_checked(chunk.len());
        if chunk.len() > 1 && verdicts.contains(&false) {
            ALONE.with(|alone| alone.set(ALONE_AFTER_BAD_BATCH));
        }
        for (job, valid) in chunk.iter().zip(verdicts) {
            job.verdict.set(valid);
        }
    }
}

/// The core's view of one check.
fn signed<'a>(
    message: &'a Message,
    signature: &'a Signature,
    key: &'a VerifyingKey,
) -> SignedBytes<'a> {
    let [m0, m1, m2] = message;
    SignedBytes {
        message: [m0, m1, m2],
        signature,
        key,
    }
}

/// Whether this signature is to be checked alone (counting it down).
fn take_alone() -> bool {
    ALONE.with(|alone| match alone.get() {
        0 => false,
        left => {
            alone.set(left - 1);
            true
        }
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::lanes::Lanes;

    /// A check of a 64-byte message, signed in one piece and checked in
    /// three (10, 40 and 14 bytes).
    fn job(n: u8, valid: bool) -> (Message, Signature, VerifyingKey) {
        let key = SigningKey::from_bytes(&[n; 32]);
        let message = Bytes::from(vec![n; 64]);
        let signature = key.sign(if valid { &message } else { b"other" });
        let pieces = [
            message.slice(..10),
            message.slice(10..50),
            message.slice(50..),
        ];
        (pieces, signature, key.verifying_key())
    }

    #[test]
    fn requests_ready_together_are_checked_in_one_batch_with_their_own_verdicts() {
        let lanes = Lanes::start("sigtest", 1);
        let metrics = Arc::new(Metrics::new());
        // One task on the lane starts the requests: they all queue their
        // check before any of them runs again, whatever the timing.
        let on_lane = |valid: fn(u8) -> bool, count: u8| {
            let metrics = metrics.clone();
            let (done, verdicts) = std::sync::mpsc::channel();
            lanes.spawn(async move {
                let requests: Vec<_> = (0..count)
                    .map(|n| {
                        let metrics = metrics.clone();
                        tokio::spawn(async move {
                            let (message, signature, key) = job(n, valid(n));
                            (n, verify(message, signature, key, true, &metrics).await)
                        })
                    })
                    .collect();
                for request in requests {
                    let _ = done.send(request.await.expect("request task"));
                }
            });
            (0..count)
                .map(|_| verdicts.recv().expect("verdict"))
                .collect::<Vec<(u8, bool)>>()
        };

        let verdicts = on_lane(|n| n != 2, 6);
        let expected: Vec<(u8, bool)> = (0..6).map(|n| (n, n != 2)).collect();
        assert_eq!(verdicts, expected);
        let text = metrics.encode();
        assert!(text.contains("mxgate_signatures_checked_total 6"), "{text}");
        assert!(text.contains("mxgate_signature_batches_total 1"), "{text}");

        // That batch held a bad signature: the lane now checks alone.
        let verdicts = on_lane(|_| true, 4);
        assert!(verdicts.iter().all(|&(_, valid)| valid), "{verdicts:?}");
        let text = metrics.encode();
        assert!(
            text.contains("mxgate_signatures_checked_total 10"),
            "{text}"
        );
        assert!(text.contains("mxgate_signature_batches_total 5"), "{text}");
    }

    #[tokio::test]
    async fn off_the_lanes_each_signature_is_checked_alone() {
        let metrics = Metrics::new();
        let (message, signature, key) = job(1, true);
        assert!(verify(message, signature, key, true, &metrics).await);
        let (message, signature, key) = job(1, false);
        assert!(!verify(message, signature, key, true, &metrics).await);
        let text = metrics.encode();
        assert!(text.contains("mxgate_signature_batches_total 2"), "{text}");
    }
}
