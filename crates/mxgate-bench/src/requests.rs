//! Pre-signed `PUT /_matrix/federation/v1/send/{txnId}` requests.
//!
//! A pool of requests is signed before the timed run, so the generator's own
//! signing cost never limits it: realistic room-version-10 `m.room.message`
//! PDUs (content hash and event signature included), wrapped in transactions
//! with distinct transaction ids and signed with X-Matrix
//! (<https://spec.matrix.org/v1.16/server-server-api/#request-authentication>).
//! A pool can be written to a file once ([`Pool::save`]) and loaded by many
//! runs ([`Pool::load`]).

use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::thread;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use hyper::Uri;
use hyper::header::HeaderValue;
use mxgate_core::event::{self, RoomVersion};
use mxgate_core::ids::{KeyId, ServerName};
use mxgate_core::json::{self, CanonicalJsonObject, CanonicalJsonValue};
use mxgate_core::xmatrix::RequestToSign;

/// First bytes of a pool file.
const MAGIC: &[u8] = b"mxgate-bench pool v1\n";
/// How many distinct PDUs are signed; transactions pick from them in turn.
const DISTINCT_PDUS: usize = 512;
/// A fixed `origin_server_ts` base (2026-09-22), so pools are reproducible.
const BASE_TS: u64 = 1_790_000_000_000;

/// One sending server of the benchmark: a name and a test key from a fixed seed.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The server name, `o{i}.bench.example`.
    pub name: ServerName,
    /// The key id, always `ed25519:bench`.
    pub key_id: KeyId,
    /// The signing key derived from the origin's index.
    pub key: SigningKey,
}

impl Origin {
    /// The `index`-th origin: name `o{index}.bench.example`, seed `[0x42; 32]`
    /// with the first byte replaced by `index`.
    pub fn nth(index: u8) -> Result<Self, PoolError> {
        let name = ServerName::parse(&format!("o{index}.bench.example"))?;
        let key_id = KeyId::parse("ed25519:bench")?;
        let mut seed = [0x42; 32];
        seed[0] = index;
        Ok(Self {
            name,
            key_id,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The first `count` origins.
    pub fn first(count: u8) -> Result<Vec<Self>, PoolError> {
        (0..count).map(Self::nth).collect()
    }
}

/// What requests to sign.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    /// The receiving server (X-Matrix `destination` and the `Host` header).
    pub destination: ServerName,
    /// The sending servers, used in turn.
    pub origins: Vec<Origin>,
    /// PDUs per transaction (1..=50).
    pub pdus: usize,
    /// Extra characters of message text per PDU (body size knob).
    pub pad_bytes: usize,
    /// How many distinct requests to sign.
    pub count: usize,
}

/// One ready-to-send request; cloning is cheap (shared buffers).
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The request-target, `/_matrix/federation/v1/send/{txnId}`.
    pub uri: Uri,
    /// The `Authorization: X-Matrix ...` value.
    pub authorization: HeaderValue,
    /// The canonical JSON transaction.
    pub body: Bytes,
}

/// A set of signed requests for one destination.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The receiving server, sent as `Host`.
    pub destination: ServerName,
    /// The requests, sent in turn (wrapping around).
    pub requests: Vec<SignedRequest>,
}

impl Pool {
    /// Signs `spec.count` requests, using every available core.
    pub fn sign(spec: &PoolSpec) -> Result<Self, PoolError> {
        if spec.origins.is_empty() || spec.count == 0 || !(1..=50).contains(&spec.pdus) {
            return Err(PoolError::BadSpec);
        }
        let pdus = signed_pdus(spec)?;
        let threads = thread::available_parallelism().map_or(1, usize::from);
        let chunk = spec.count.div_ceil(threads);
        let requests = thread::scope(|scope| {
            let workers: Vec<_> = (0..spec.count)
                .step_by(chunk)
                .map(|start| {
                    let range = start..(start + chunk).min(spec.count);
                    let pdus = &pdus;
                    scope.spawn(move || range.map(|i| sign_request(spec, pdus, i)).collect())
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap_or(Err(PoolError::SignerPanicked)))
                .collect::<Result<Vec<Vec<_>>, _>>()
        })?;
        Ok(Self {
            destination: spec.destination.clone(),
            requests: requests.into_iter().flatten().collect(),
        })
    }

    /// Writes the pool: the magic line, then length-prefixed (u32 LE)
    /// destination, and uri/authorization/body of each request.
    pub fn save(&self, path: &Path) -> Result<(), PoolError> {
        let mut out = io::BufWriter::new(std::fs::File::create(path)?);
        out.write_all(MAGIC)?;
        write_field(&mut out, self.destination.as_str().as_bytes())?;
        for request in &self.requests {
            write_field(&mut out, request.uri.to_string().as_bytes())?;
            write_field(&mut out, request.authorization.as_bytes())?;
            write_field(&mut out, &request.body)?;
        }
        out.flush()?;
        Ok(())
    }

    /// Reads a pool written by [`Pool::save`].
    pub fn load(path: &Path) -> Result<Self, PoolError> {
        let mut data = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut data)?;
        let data = Bytes::from(data);
        let mut rest = data
            .strip_prefix(MAGIC)
            .map(|r| data.slice_ref(r))
            .ok_or(PoolError::BadFile)?;
        let destination = std::str::from_utf8(&read_field(&mut rest)?)
            .map_err(|_| PoolError::BadFile)
            .and_then(|s| Ok(ServerName::parse(s)?))?;
        let mut requests = Vec::new();
        while !rest.is_empty() {
            let uri =
                Uri::from_maybe_shared(read_field(&mut rest)?).map_err(|_| PoolError::BadFile)?;
            let authorization = HeaderValue::from_maybe_shared(read_field(&mut rest)?)
                .map_err(|_| PoolError::BadFile)?;
            let body = read_field(&mut rest)?;
            requests.push(SignedRequest {
                uri,
                authorization,
                body,
            });
        }
        if requests.is_empty() {
            return Err(PoolError::BadFile);
        }
        Ok(Self {
            destination,
            requests,
        })
    }

    /// Mean body size in bytes.
    pub fn mean_body_bytes(&self) -> usize {
        let total: usize = self.requests.iter().map(|r| r.body.len()).sum();
        total / self.requests.len().max(1)
    }
}

/// Why a pool could not be built, written or read.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No origin, no request, or PDUs per transaction outside 1..=50.
    #[error("bad pool parameters: need >=1 origin, >=1 request, 1..=50 PDUs")]
    BadSpec,
    /// A generated identifier did not parse (a bug in the names used).
    #[error("bad identifier: {0}")]
    Id(#[from] mxgate_core::ids::IdError),
    /// A generated PDU did not parse or sign.
    #[error("bad PDU: {0}")]
    Pdu(String),
    /// A signing thread panicked.
    #[error("a signing thread panicked")]
    SignerPanicked,
    /// The pool file is not one written by `mxgate-bench sign`.
    #[error("not an mxgate-bench pool file (or truncated)")]
    BadFile,
    /// Reading or writing the pool file failed.
    #[error("pool file: {0}")]
    Io(#[from] io::Error),
}

impl PoolError {
    /// A stable snake_case label for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            PoolError::BadSpec => "bad_spec",
            PoolError::Id(_) => "bad_identifier",
            PoolError::Pdu(_) => "bad_pdu",
            PoolError::SignerPanicked => "signer_panicked",
            PoolError::BadFile => "bad_pool_file",
            PoolError::Io(_) => "pool_io",
        }
    }
}

/// The distinct signed PDUs, each as canonical JSON objects.
fn signed_pdus(spec: &PoolSpec) -> Result<Vec<CanonicalJsonObject>, PoolError> {
    let distinct = DISTINCT_PDUS.min(spec.count * spec.pdus);
    (0..distinct)
        .map(|i| {
            let origin = &spec.origins[i % spec.origins.len()];
            let text = pdu_text(i, &origin.name, spec.pad_bytes);
            let mut pdu =
                json::parse_object(text.as_bytes()).map_err(|e| PoolError::Pdu(e.to_string()))?;
            event::sign_event(
                &mut pdu,
                &RoomVersion::V10,
                &origin.name,
                &origin.key_id,
                &origin.key,
            )
            .map_err(|e| PoolError::Pdu(e.to_string()))?;
            Ok(pdu)
        })
        .collect()
}

/// A room-version-10 `m.room.message` with realistic ids; about 640 bytes of
/// canonical JSON once hashed and signed, plus `pad` bytes of text.
fn pdu_text(i: usize, origin: &ServerName, pad: usize) -> String {
    let filler = "lorem ipsum ".repeat(pad.div_ceil(12));
    let filler = &filler[..pad];
    format!(
        concat!(
            r#"{{"type":"m.room.message","room_id":"!kWwOrXfAxcGqLbnDzP:{o}","sender":"@agent.{i}:{o}","#,
            r#""origin_server_ts":{ts},"depth":{depth},"#,
            r#""prev_events":["$Qm9Yb3JZQmFzZTY0SGFzaE9mUHJldmlvdXNFdmVudDE"],"#,
            r#""auth_events":["$Q3JlYXRlRXZlbnRIYXNoQmFzZTY0VXJsU2FmZVBhZGRpbmc","#,
            r#""$UG93ZXJMZXZlbHNFdmVudEhhc2hCYXNlNjRVcmxTYWY","$TWVtYmVyc2hpcEV2ZW50SGFzaEJhc2U2NFVybFNhZmVQYQ"],"#,
            r#""content":{{"msgtype":"m.text","body":"Message {i}: the meeting moved to 14:00, room B. {filler}"}},"#,
            r#""unsigned":{{"age_ts":{ts}}}}}"#
        ),
        o = origin,
        i = i,
        ts = BASE_TS + i as u64,
        depth = 100 + i,
        filler = filler,
    )
}

/// The `index`-th transaction, signed by origin `index % origins`.
fn sign_request(
    spec: &PoolSpec,
    pdus: &[CanonicalJsonObject],
    index: usize,
) -> Result<SignedRequest, PoolError> {
    let origin = &spec.origins[index % spec.origins.len()];
    let events = (0..spec.pdus)
        .map(|j| CanonicalJsonValue::Object(pdus[(index * spec.pdus + j) % pdus.len()].clone()))
        .collect();
    let ts = json::parse_strict((BASE_TS + index as u64).to_string().as_bytes())
        .map_err(|e| PoolError::Pdu(e.to_string()))?;
    let content = CanonicalJsonValue::Object(CanonicalJsonObject::from([
        ("origin".to_owned(), origin.name.as_str().into()),
        ("origin_server_ts".to_owned(), ts),
        ("pdus".to_owned(), CanonicalJsonValue::Array(events)),
    ]));
    let uri = format!("/_matrix/federation/v1/send/bench{index:09}");
    let header = RequestToSign {
        method: "PUT",
        uri: &uri,
        origin: &origin.name,
        destination: &spec.destination,
        content: Some(&content),
    }
    .sign(&origin.key_id, &origin.key)
    .to_header_value();
    Ok(SignedRequest {
        uri: Uri::try_from(uri).map_err(|e| PoolError::Pdu(e.to_string()))?,
        authorization: HeaderValue::try_from(header).map_err(|e| PoolError::Pdu(e.to_string()))?,
        body: Bytes::from(json::to_canonical_vec(&content)),
    })
}

fn write_field(out: &mut impl io::Write, bytes: &[u8]) -> Result<(), PoolError> {
    let len = u32::try_from(bytes.len()).map_err(|_| PoolError::BadSpec)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)?;
    Ok(())
}

fn read_field(rest: &mut Bytes) -> Result<Bytes, PoolError> {
    let len_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(PoolError::BadFile)?;
    let len = u32::from_le_bytes(len_bytes) as usize;
    if rest.len() < 4 + len {
        return Err(PoolError::BadFile);
    }
    let field = rest.slice(4..4 + len);
    *rest = rest.slice(4 + len..);
    Ok(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pdus: usize, count: usize) -> PoolSpec {
        PoolSpec {
            destination: ServerName::parse("hs.bench.example").unwrap(),
            origins: Origin::first(2).unwrap(),
            pdus,
            pad_bytes: 0,
            count,
        }
    }

    #[test]
    fn requests_verify_and_have_distinct_txn_ids() {
        let spec = spec(1, 6);
        let pool = Pool::sign(&spec).unwrap();
        let uris: std::collections::BTreeSet<_> =
            pool.requests.iter().map(|r| r.uri.to_string()).collect();
        assert_eq!(uris.len(), 6);
        for (i, request) in pool.requests.iter().enumerate() {
            let origin = &spec.origins[i % 2];
            let xm =
                mxgate_core::xmatrix::XMatrix::parse(request.authorization.as_bytes()).unwrap();
            let content = json::parse_strict(&request.body).unwrap();
            let uri = request.uri.to_string();
            let to_verify = RequestToSign {
                method: "PUT",
                uri: &uri,
                origin: &origin.name,
                destination: &spec.destination,
                content: Some(&content),
            };
            to_verify.verify(&xm, &origin.key.verifying_key()).unwrap();
            mxgate_core::txn::Transaction::from_json(&content, &origin.name).unwrap();
        }
    }

    #[test]
    fn one_pdu_body_is_about_800_bytes_and_grows_with_pdus() {
        let one = Pool::sign(&spec(1, 2)).unwrap().mean_body_bytes();
        let ten = Pool::sign(&spec(10, 2)).unwrap().mean_body_bytes();
        assert!((700..=950).contains(&one), "1-PDU body is {one} bytes");
        assert!(ten > 9 * one, "10-PDU body is {ten} bytes");
    }

    #[test]
    fn save_then_load_round_trips() {
        let pool = Pool::sign(&spec(2, 3)).unwrap();
        let path = std::env::temp_dir().join(format!("mxgate-bench-{}.pool", std::process::id()));
        pool.save(&path).unwrap();
        let loaded = Pool::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(loaded.destination, pool.destination);
        assert_eq!(loaded.requests.len(), 3);
        assert_eq!(loaded.requests[2].body, pool.requests[2].body);
        assert_eq!(loaded.requests[1].uri, pool.requests[1].uri);
    }

    #[test]
    fn truncated_file_is_refused() {
        let mut rest = Bytes::from_static(&[10, 0, 0, 0, b'a']);
        assert!(matches!(read_field(&mut rest), Err(PoolError::BadFile)));
    }
}
