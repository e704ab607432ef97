//! Small helpers: the origins' public keys as config, and the cost of one
//! bare Ed25519 verification on this machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use mxgate_core::json::encode_base64;
use mxgate_core::xmatrix::{self, SignedBytes};

use crate::requests::{Origin, PoolError};

/// The public keys of the first `count` origins: either one
/// `name key_id base64` line each, or `[[remote]]` TOML blocks for mxgate.
pub fn print_keys(count: u8, toml_tier: Option<&str>) -> Result<String, PoolError> {
    let origins = Origin::first(count)?;
    Ok(origins
        .iter()
        .map(|origin| {
            let public = encode_base64(origin.key.verifying_key().as_bytes());
            match toml_tier {
                Some(tier) => format!(
                    "[[remote]]\nserver_name = \"{}\"\ntier = \"{tier}\"\n\
                     address = \"127.0.0.1:1\"\nkeys = {{ \"{}\" = \"{public}\" }}\n\n",
                    origin.name, origin.key_id
                ),
                None => format!("{} {} {public}\n", origin.name, origin.key_id),
            }
        })
        .collect())
}

/// Time of one `verify_strict` of a 64-byte signature over a message of
/// `bytes` bytes: the minimum over `rounds` timed loops of `loop_time` each
/// (the figure least disturbed by other processes), and the median.
pub fn verify_cost(
    bytes: usize,
    rounds: usize,
    loop_time: Duration,
) -> Result<(Duration, Duration), PoolError> {
    let origin = Origin::nth(0)?;
    let message = vec![b'x'; bytes];
    let signature = origin.key.sign(&message);
    let key = origin.key.verifying_key();
    let mut per_call: Vec<Duration> = (0..rounds.max(1))
        .map(|_| time_loop(&key, &message, &signature, loop_time))
        .collect();
    per_call.sort_unstable();
    Ok((per_call[0], per_call[per_call.len() / 2]))
}

/// Time per signature of `mxgate_core::xmatrix::verify_batch` over batches
/// of `batch` signatures over distinct `bytes`-byte messages (as the
/// gateway checks requests that arrive together), made by `keys` keys in
/// turn: minimum and median over `rounds` loops of `loop_time`.
pub fn batch_verify_cost(
    bytes: usize,
    batch: usize,
    keys: u8,
    rounds: usize,
    loop_time: Duration,
) -> Result<(Duration, Duration), PoolError> {
    let origins = (0..keys.max(1))
        .map(Origin::nth)
        .collect::<Result<Vec<_>, _>>()?;
    let verifying: Vec<VerifyingKey> = origins.iter().map(|o| o.key.verifying_key()).collect();
    let messages: Vec<Vec<u8>> = (0..batch.max(1))
        .map(|n| {
            let mut message = vec![b'x'; bytes.max(8)];
            message[..8].copy_from_slice(&(n as u64).to_le_bytes());
            message
        })
        .collect();
    let signatures: Vec<Signature> = messages
        .iter()
        .enumerate()
        .map(|(n, m)| origins[n % origins.len()].key.sign(m))
        .collect();
    let items: Vec<SignedBytes<'_>> = messages
        .iter()
        .zip(&signatures)
        .enumerate()
        .map(|(n, (message, signature))| SignedBytes {
            message: [message, &[], &[]],
            signature,
            key: &verifying[n % verifying.len()],
        })
        .collect();
    let mut per_signature: Vec<Duration> = (0..rounds.max(1))
        .map(|_| {
            let start = Instant::now();
            let mut batches = 0_u32;
            while start.elapsed() < loop_time {
                let verdicts = xmatrix::verify_batch(black_box(&items));
                assert!(verdicts.iter().all(|&ok| ok), "a bench signature failed");
                batches += 1;
            }
            start.elapsed() / (batches.max(1) * items.len() as u32)
        })
        .collect();
    per_signature.sort_unstable();
    Ok((per_signature[0], per_signature[per_signature.len() / 2]))
}

fn time_loop(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
    loop_time: Duration,
) -> Duration {
    let start = Instant::now();
    let mut calls = 0_u32;
    let mut ok = true;
    while start.elapsed() < loop_time {
        ok &= black_box(key)
            .verify_strict(black_box(message), signature)
            .is_ok();
        calls += 1;
    }
    debug_assert!(ok);
    start.elapsed() / calls.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxgate_core::keys::parse_verify_key;

    #[test]
    fn printed_keys_are_the_origins_keys() {
        let text = print_keys(2, None).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let fields: Vec<&str> = lines[1].split(' ').collect();
        assert_eq!(fields[0], "o1.bench.example");
        assert_eq!(fields[1], "ed25519:bench");
        let key = parse_verify_key(fields[2]).unwrap();
        assert_eq!(key, Origin::nth(1).unwrap().key.verifying_key());
    }

    #[test]
    fn toml_blocks_name_the_tier() {
        let text = print_keys(1, Some("external")).unwrap();
        assert!(text.starts_with("[[remote]]\nserver_name = \"o0.bench.example\"\n"));
        assert!(text.contains("tier = \"external\""));
    }

    #[test]
    fn batches_cost_something_per_signature() {
        let (min, median) = batch_verify_cost(900, 4, 2, 2, Duration::from_millis(5)).unwrap();
        assert!(min > Duration::ZERO);
        assert!(min <= median);
    }

    #[test]
    fn verify_cost_is_positive_and_ordered() {
        let (min, median) = verify_cost(900, 3, Duration::from_millis(5)).unwrap();
        assert!(min > Duration::ZERO);
        assert!(min <= median);
    }
}
