//! Checking several request signatures at once: Ed25519 batch verification
//! with the verdicts of [`VerifyingKey::verify_strict`] taken one by one.
//!
//! A batch of `n` signatures costs one multi-scalar multiplication instead
//! of `n` double-scalar ones: 1.6–1.8× fewer cycles per signature for batches
//! of 4 to 16 (docs/performance.md). [`verify_batch`] gives the same answer
//! as `verify_strict` for each item, with one exception that only the
//! owner of the signing key can produce (see there).

use std::sync::LazyLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, VerifyingKey};

/// One signature to check: the signed bytes, the signature, the key.
#[derive(Debug, Clone, Copy)]
pub struct SignedBytes<'a> {
    /// The bytes that were signed.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
    /// The key that supposedly made it.
    pub key: &'a VerifyingKey,
}

impl SignedBytes<'_> {
    /// `verify_strict` for this one item.
    pub fn verify_strict(&self) -> bool {
        self.key.verify_strict(self.message, self.signature).is_ok()
    }
}

/// Checks every item; `result[i]` says whether item `i` verifies.
///
/// Items that `verify_strict` refuses before any curve arithmetic are
/// refused here the same way: a signature whose `R` is not the canonical
/// encoding of a point, or is a point of small order, or a small-order key.
/// The rest are checked together with `ed25519_dalek::verify_batch` (random
/// linear combination, coefficients derived from all the inputs); if the
/// batch fails, each of them is checked alone with `verify_strict`, so one
/// bad signature never fails the others. A batch of one is checked alone.
///
/// The exception: a signature whose `R` (or key) has a small-order
/// component besides its prime-order part can pass a batch while
/// `verify_strict` alone refuses it. Making one needs the secret key (the
/// equation still has to hold up to that component), so only the origin
/// itself could send one, and the homeserver checks the signature again on
/// its own and refuses it. Set `[gateway] batch_verify = false` to check
/// every signature alone.
pub fn verify_batch(items: &[SignedBytes<'_>]) -> Vec<bool> {
    let mut results = vec![false; items.len()];
    let candidates: Vec<usize> = (0..items.len())
        .filter(|&i| strict_preconditions(&items[i]))
        .collect();
    if candidates.len() > 1 {
        let messages: Vec<&[u8]> = candidates.iter().map(|&i| items[i].message).collect();
        let signatures: Vec<Signature> = candidates.iter().map(|&i| *items[i].signature).collect();
        let keys: Vec<VerifyingKey> = candidates.iter().map(|&i| *items[i].key).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            for &i in &candidates {
                results[i] = true;
            }
            return results;
        }
    }
    for &i in &candidates {
        results[i] = items[i].verify_strict();
    }
    results
}

/// What `verify_strict` requires besides the equation: `R` canonically
/// encoded and not of small order, and a key not of small order.
fn strict_preconditions(item: &SignedBytes<'_>) -> bool {
    let r = item.signature.r_bytes();
    !item.key.is_weak() && is_canonical_y(r) && !SMALL_ORDER_Y.contains(&y_of(r))
}

/// The y coordinates of the eight points of small order. A canonical
/// encoding names a small-order point exactly when its y is one of these
/// (the sign bit only picks between `P` and `-P`).
static SMALL_ORDER_Y: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
    let mut ys: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|point| y_of(point.compress().as_bytes()))
        .collect();
    ys.sort_unstable();
    ys.dedup();
    ys
});

/// The encoded y coordinate (the sign bit of x cleared).
fn y_of(encoding: &[u8; 32]) -> [u8; 32] {
    let mut y = *encoding;
    y[31] &= 0x7f;
    y
}

/// Whether the encoded y is below p = 2^255 - 19. `verify_strict` compares
/// encodings, so a non-canonical `R` never passes it; the batch decompresses
/// `R`, which would reduce it.
fn is_canonical_y(encoding: &[u8; 32]) -> bool {
    let y = y_of(encoding);
    // y >= p only when bytes 1..31 are all 0xff, byte 31 is 0x7f and byte 0
    // is at least 0xed (p = 0x7fff…ffed, little-endian).
    let top_all_ones = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff);
    !(top_all_ones && y[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    struct Owned {
        message: Vec<u8>,
        signature: Signature,
        key: VerifyingKey,
    }

    fn signed(n: u8, message: &[u8]) -> Owned {
        let signing = key(n);
        Owned {
            message: message.to_vec(),
            signature: signing.sign(message),
            key: signing.verifying_key(),
        }
    }

    fn check(items: &[Owned]) -> Vec<bool> {
        let borrowed: Vec<SignedBytes<'_>> = items
            .iter()
            .map(|o| SignedBytes {
                message: &o.message,
                signature: &o.signature,
                key: &o.key,
            })
            .collect();
        let batch = verify_batch(&borrowed);
        let alone: Vec<bool> = borrowed.iter().map(SignedBytes::verify_strict).collect();
        assert_eq!(batch, alone, "batch and one-by-one verdicts differ");
        batch
    }

    #[test]
    fn a_batch_of_valid_signatures_passes() {
        let items: Vec<Owned> = (0..8).map(|n| signed(n % 3, &[n; 40])).collect();
        assert_eq!(check(&items), vec![true; 8]);
    }

    #[test]
    fn one_bad_signature_fails_only_itself() {
        let mut items: Vec<Owned> = (0..6).map(|n| signed(n, &[n; 40])).collect();
        items[3].message[0] ^= 1;
        assert_eq!(check(&items), [true, true, true, false, true, true]);
    }

    #[test]
    fn small_order_and_non_canonical_r_are_refused_as_alone() {
        let mut items: Vec<Owned> = (0..4).map(|n| signed(n, b"msg")).collect();
        // R = the identity (small order), s = 0.
        let mut identity = [0u8; 64];
        identity[0] = 1;
        items[1].signature = Signature::from_bytes(&identity);
        // R = a non-canonical encoding (y = p + 1, i.e. y = 1 reduced).
        let mut non_canonical = items[2].signature.to_bytes();
        non_canonical[..32].copy_from_slice(&{
            let mut y = [0xffu8; 32];
            y[0] = 0xee;
            y[31] = 0x7f;
            y
        });
        items[2].signature = Signature::from_bytes(&non_canonical);
        assert_eq!(check(&items), [true, false, false, true]);
    }

    #[test]
    fn the_small_order_table_has_the_five_y_values() {
        // y = 1 (identity), -1 (order 2), 0 (order 4), and the two of the
        // order-8 points.
        assert_eq!(SMALL_ORDER_Y.len(), 5);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(SMALL_ORDER_Y.contains(&one));
        assert!(SMALL_ORDER_Y.contains(&[0u8; 32]));
    }

    #[test]
    fn canonical_y_bound_is_p() {
        let mut p_minus_one = [0xffu8; 32];
        p_minus_one[0] = 0xec;
        p_minus_one[31] = 0x7f;
        assert!(is_canonical_y(&p_minus_one));
        let mut p = p_minus_one;
        p[0] = 0xed;
        assert!(!is_canonical_y(&p));
        // The sign bit is not part of y.
        p_minus_one[31] = 0xff;
        assert!(is_canonical_y(&p_minus_one));
    }

    proptest! {
        // Each case verifies up to 24 signatures, slowly in debug builds.
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any mix of valid signatures, corrupted messages, corrupted
        /// signatures and swapped keys: the batch agrees with one-by-one.
        #[test]
        fn batch_agrees_with_one_by_one(
            spec in prop::collection::vec((0u8..4, 0u8..4, any::<u8>()), 0..12)
        ) {
            let items: Vec<Owned> = spec
                .iter()
                .enumerate()
                .map(|(i, &(signer, fault, byte))| {
                    let mut item = signed(signer, &[i as u8, byte]);
                    match fault {
                        1 => item.message.push(byte),
                        2 => {
                            let mut bytes = item.signature.to_bytes();
                            bytes[usize::from(byte) % 64] ^= 0x10;
                            item.signature = Signature::from_bytes(&bytes);
                        }
                        3 => item.key = key(signer.wrapping_add(1)).verifying_key(),
                        _ => {}
                    }
                    item
                })
                .collect();
            check(&items);
        }
    }
}
