//! Request verification cost against a bare ed25519 signature check.
//!
//! Target (issue 2): verifying a 1-PDU `/send` request — `XMatrix::parse`, `json::parse_strict`
//! of the body and `RequestToSign::verify` — costs at most 1.3× one bare `verify_strict` of a
//! 64-byte signature over a ~900-byte message. After criterion's report, the ratios are
//! printed from separate timed loops (criterion doesn't compute ratios).
//!
//! `send_request/raw_pdus` is the same with the signed bytes built from the raw body
//! (`verify_with_raw`, the gateway's path); `parse_strict` and `signing_bytes` time those
//! steps alone.
//!
//! `scan_canonical` times the one-pass check of a canonical body (no tree), the gateway's path
//! for `/send` bodies. The `txn_check` group times the `/send` envelope check alone
//! (`Transaction::from_json` on a parsed body, `Envelope::from_canonical` on a scanned one) and
//! `send_request_txn` the gateway's whole path for a canonical `/send` body (scan, verify over
//! the raw body, envelope check).
//!
//! Run: `cargo bench -p mxgate-core --bench verify -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use mxgate_core::event::{self, RoomVersion};
use mxgate_core::ids::{KeyId, ServerName};
use mxgate_core::json::{self, CanonicalJsonObject, CanonicalJsonValue};
use mxgate_core::txn::{Envelope, Transaction};
use mxgate_core::xmatrix::{RequestToSign, XMatrix};

fn main() {
    let fixture = Fixture::new();
    let mut criterion = Criterion::default().configure_from_args();
    bench_bare(&mut criterion, &fixture);
    bench_requests(&mut criterion, &fixture);
    bench_transactions(&mut criterion, &fixture);
    criterion.final_summary();
    print_ratios(&fixture);
}

/// Keys, a bare message, and signed `/send` requests with 1, 10 and 50 PDUs.
struct Fixture {
    verifying_key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
    origin: ServerName,
    destination: ServerName,
    requests: Vec<SignedRequest>,
}

struct SignedRequest {
    pdus: usize,
    uri: String,
    body: Vec<u8>,
    content: CanonicalJsonValue,
    header: String,
}

impl Fixture {
    fn new() -> Self {
        let key = SigningKey::from_bytes(&[7; 32]);
        let key_id = KeyId::parse("ed25519:a_1").unwrap();
        let origin = ServerName::parse("remote.example.org").unwrap();
        let destination = ServerName::parse("ministere-a.example").unwrap();
        let message = vec![b'x'; 900];
        let signature = key.sign(&message);
        let requests = [1, 10, 50]
            .into_iter()
            .map(|pdus| signed_request(pdus, &origin, &destination, &key_id, &key))
            .collect();
        Self {
            verifying_key: key.verifying_key(),
            message,
            signature,
            origin,
            destination,
            requests,
        }
    }

    /// The full inbound check of one request: header, body, signature.
    fn verify_request(&self, request: &SignedRequest) {
        let xm = XMatrix::parse(request.header.as_bytes()).unwrap();
        let content = json::parse_strict(&request.body).unwrap();
        let to_verify = RequestToSign {
            method: "PUT",
            uri: &request.uri,
            origin: &self.origin,
            destination: &self.destination,
            content: Some(&content),
        };
        to_verify.verify(&xm, &self.verifying_key).unwrap();
    }

    /// [`Self::verify_request`] with the signed bytes taken from the raw
    /// body when it is canonical (`verify_with_raw`), as the gateway does.
    fn verify_request_raw(&self, request: &SignedRequest) {
        let xm = XMatrix::parse(request.header.as_bytes()).unwrap();
        let content = json::parse_strict(&request.body).unwrap();
        let to_verify = self.to_sign(request, &content);
        to_verify
            .verify_with_raw(&xm, &self.verifying_key, &request.body)
            .unwrap();
    }

    /// The gateway's path for a canonical `/send` body: scan it, verify over it, check the
    /// envelope; no JSON tree.
    fn verify_transaction(&self, request: &SignedRequest) {
        let xm = XMatrix::parse(request.header.as_bytes()).unwrap();
        let doc = json::scan_canonical(&request.body).unwrap();
        let to_verify = RequestToSign {
            content: None,
            ..self.to_sign(request, &request.content)
        };
        to_verify
            .verify_canonical(&xm, &self.verifying_key, &doc)
            .unwrap();
        black_box(Envelope::from_canonical(&doc, &xm.origin).unwrap());
    }

    fn to_sign<'a>(
        &'a self,
        request: &'a SignedRequest,
        content: &'a CanonicalJsonValue,
    ) -> RequestToSign<'a> {
        RequestToSign {
            method: "PUT",
            uri: &request.uri,
            origin: &self.origin,
            destination: &self.destination,
            content: Some(content),
        }
    }

    fn verify_bare(&self) {
        self.verifying_key
            .verify_strict(&self.message, &self.signature)
            .unwrap();
    }
}

fn signed_request(
    pdus: usize,
    origin: &ServerName,
    destination: &ServerName,
    key_id: &KeyId,
    key: &SigningKey,
) -> SignedRequest {
    let events = (0..pdus)
        .map(|i| pdu(i, origin, key_id, key).into())
        .collect();
    let ts = CanonicalJsonValue::Integer(1_790_000_000_000_i64.try_into().unwrap());
    let content = CanonicalJsonValue::Object(CanonicalJsonObject::from([
        (
            "origin".to_owned(),
            CanonicalJsonValue::String(origin.to_string()),
        ),
        ("origin_server_ts".to_owned(), ts),
        ("pdus".to_owned(), CanonicalJsonValue::Array(events)),
    ]));
    let uri = "/_matrix/federation/v1/send/1795738465985".to_owned();
    let to_sign = RequestToSign {
        method: "PUT",
        uri: &uri,
        origin,
        destination,
        content: Some(&content),
    };
    let header = to_sign.sign(key_id, key).to_header_value();
    SignedRequest {
        pdus,
        body: json::to_canonical_vec(&content),
        content,
        uri,
        header,
    }
}

/// A signed room-version-10 message event, about 700 bytes of canonical JSON.
fn pdu(i: usize, origin: &ServerName, key_id: &KeyId, key: &SigningKey) -> CanonicalJsonObject {
    let text = format!(
        r#"{{"type":"m.room.message","room_id":"!aBcDeFgHiJkLmNoP:{origin}","sender":"@alice:{origin}",
        "origin_server_ts":{},"depth":{},"prev_events":["$Qm9Yb3JZQmFzZTY0SGFzaE9mUHJldmlvdXNFdmVudDE"],
        "auth_events":["$Q3JlYXRlRXZlbnRIYXNoQmFzZTY0VXJsU2FmZVBhZGRpbmc","$UG93ZXJMZXZlbHNFdmVudEhhc2hCYXNlNjRVcmxTYWY",
        "$TWVtYmVyc2hpcEV2ZW50SGFzaEJhc2U2NFVybFNhZmVQYQ"],"content":{{"msgtype":"m.text",
        "body":"Message {i}: the quick brown fox jumps over the lazy dog, twice over."}},"unsigned":{{"age":12}}}}"#,
        1_790_000_000_000_u64 + i as u64,
        100 + i,
    );
    let mut event = json::parse_object(text.as_bytes()).unwrap();
    event::sign_event(&mut event, &RoomVersion::V10, origin, key_id, key).unwrap();
    event
}

fn bench_bare(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("bare");
    group.bench_function("ed25519_verify_strict_900B", |b| {
        b.iter(|| black_box(f).verify_bare())
    });
    group.bench_function("ed25519_verify_900B", |b| {
        b.iter(|| {
            black_box(&f.verifying_key)
                .verify(black_box(&f.message), &f.signature)
                .unwrap()
        })
    });
    group.finish();
}

fn bench_requests(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("send_request");
    for request in &f.requests {
        group.throughput(Throughput::Bytes(request.body.len() as u64));
        group.bench_with_input(BenchmarkId::new("pdus", request.pdus), request, |b, r| {
            b.iter(|| f.verify_request(black_box(r)))
        });
        group.bench_with_input(
            BenchmarkId::new("raw_pdus", request.pdus),
            request,
            |b, r| b.iter(|| f.verify_request_raw(black_box(r))),
        );
    }
    group.finish();
    let mut group = c.benchmark_group("parse_strict");
    for request in &f.requests {
        group.throughput(Throughput::Bytes(request.body.len() as u64));
        group.bench_with_input(BenchmarkId::new("pdus", request.pdus), request, |b, r| {
            b.iter(|| json::parse_strict(black_box(&r.body)).unwrap())
        });
    }
    group.finish();
    let mut group = c.benchmark_group("scan_canonical");
    for request in &f.requests {
        group.throughput(Throughput::Bytes(request.body.len() as u64));
        group.bench_with_input(BenchmarkId::new("pdus", request.pdus), request, |b, r| {
            b.iter(|| json::scan_canonical(black_box(&r.body)).unwrap())
        });
    }
    group.finish();
    bench_signing_bytes(c, f);
}

/// The signed bytes alone: re-serialized (`signing_bytes`) or, for a
/// canonical body, compared and copied (`signing_bytes_with_raw`).
fn bench_signing_bytes(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("signing_bytes");
    for request in &f.requests {
        let to_sign = f.to_sign(request, &request.content);
        group.throughput(Throughput::Bytes(request.body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("serialize", request.pdus),
            request,
            |b, _| b.iter(|| black_box(&to_sign).signing_bytes()),
        );
        group.bench_with_input(BenchmarkId::new("raw", request.pdus), request, |b, r| {
            b.iter(|| black_box(&to_sign).signing_bytes_with_raw(black_box(&r.body)))
        });
    }
    group.finish();
}

fn bench_transactions(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("txn_check");
    for request in &f.requests {
        group.throughput(Throughput::Bytes(request.body.len() as u64));
        group.bench_with_input(BenchmarkId::new("pdus", request.pdus), request, |b, r| {
            b.iter(|| black_box(Transaction::from_json(black_box(&r.content), &f.origin).unwrap()))
        });
        let doc = json::scan_canonical(&request.body).unwrap();
        group.bench_with_input(BenchmarkId::new("canonical", request.pdus), &doc, |b, d| {
            b.iter(|| black_box(Envelope::from_canonical(black_box(d), &f.origin).unwrap()))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("send_request_txn");
    for request in &f.requests {
        group.throughput(Throughput::Bytes(request.body.len() as u64));
        group.bench_with_input(BenchmarkId::new("pdus", request.pdus), request, |b, r| {
            b.iter(|| f.verify_transaction(black_box(r)))
        });
    }
    group.finish();
}

/// Rounds of interleaved timed loops; the minimum per-call time of each function is kept,
/// which is the figure least disturbed by other processes on a shared machine.
const ROUNDS: usize = 15;
/// Length of one timed loop.
const LOOP: Duration = Duration::from_millis(60);

fn time_per_call(f: &mut dyn FnMut()) -> Duration {
    let start = Instant::now();
    let mut calls = 0_u32;
    while start.elapsed() < LOOP {
        f();
        calls += 1;
    }
    start.elapsed() / calls
}

fn print_ratios(f: &Fixture) {
    let plain = |f: &Fixture| f.verifying_key.verify(&f.message, &f.signature).unwrap();
    let n = f.requests.len();
    let mut best = vec![Duration::MAX; 2 + 2 * n];
    for _ in 0..ROUNDS {
        best[0] = best[0].min(time_per_call(&mut || f.verify_bare()));
        best[1] = best[1].min(time_per_call(&mut || plain(f)));
        for (i, request) in f.requests.iter().enumerate() {
            best[2 + i] = best[2 + i].min(time_per_call(&mut || f.verify_request_raw(request)));
            best[2 + n + i] =
                best[2 + n + i].min(time_per_call(&mut || f.verify_transaction(request)));
        }
    }
    let (strict, bare) = (best[0], best[1]);
    println!("\nratios (minimum of {ROUNDS} interleaved {LOOP:?} loops per function):");
    println!("  (a)  bare verify_strict, 900-byte message: {strict:?}");
    println!("  (a') bare verify,        900-byte message: {bare:?}");
    let paths = [
        (
            "tree path (parse_strict + verify_with_raw)",
            &best[2..2 + n],
        ),
        (
            "gateway path (scan + verify_canonical + envelope)",
            &best[2 + n..],
        ),
    ];
    for (name, times) in paths {
        println!("  {name}:");
        for (request, full) in f.requests.iter().zip(times) {
            let ratio = full.as_secs_f64() / strict.as_secs_f64();
            let ratio_plain = full.as_secs_f64() / bare.as_secs_f64();
            println!(
                "    {:>2} PDU /send ({:>5}-byte body): {full:?} = {ratio:.2} x (a), {ratio_plain:.2} x (a'){}",
                request.pdus,
                request.body.len(),
                if request.pdus == 1 {
                    "   [target <= 1.30 x (a)]"
                } else {
                    ""
                }
            );
        }
    }
}
