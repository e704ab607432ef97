//! Checking several request signatures at once: Ed25519 batch verification
//! with the verdicts of [`VerifyingKey::verify_strict`] taken one by one.
//!
//! A batch of `n` signatures costs one multi-scalar multiplication instead
//! of `n` double-scalar ones, and the `n` hashes `SHA-512(R || A || M)` are
//! computed side by side ([`super::sha512_lanes`]). The terms of one key
//! are added up first, so a batch from one server costs least. Per
//! signature, batches of 4 to 16 take 2.1–2.8× less time than checking alone
//! over 900 bytes when one key signed them all (1.8–2.3× with a key each),
//! 2.3–3.0× over 7.5 KB (2.1–2.5×) (docs/performance.md). [`verify_batch`]
//! gives the same answer as `verify_strict` for each item, with one
//! exception that only the owner of the signing key can produce (see there).

use std::iter::once;
use std::sync::LazyLock;

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint, VartimeEdwardsPrecomputation};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimePrecomputedMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

use super::sha512_lanes::{self, Parts};

/// One signature to check: the signed bytes, the signature, the key.
#[derive(Debug, Clone, Copy)]
pub struct SignedBytes<'a> {
    /// The bytes that were signed, in three pieces taken as one (a request
    /// whose body is signed as it is: `{"content":`, the body, the rest), so
    /// that nobody has to copy the body into one buffer. Any piece may be
    /// empty.
    pub message: [&'a [u8]; 3],
    /// The signature.
    pub signature: &'a Signature,
    /// The key that supposedly made it.
    pub key: &'a VerifyingKey,
}

impl SignedBytes<'_> {
    /// The verdict of ed25519-dalek's `VerifyingKey::verify_strict` over the
    /// concatenated message, computed here over its pieces: the refusals
    /// before any arithmetic (a non-canonical or small-order `R`, `s` not
    /// below the group order, a small-order key), then whether the encoding
    /// of `[s]B - [k]A` is `R`. (dalek also decompresses `R` to refuse a
    /// small-order one; the refusals here do that from the
    /// encoding, and an `R` that is no point's encoding never equals a
    /// computed one.) Tests and the `batch_verify` fuzz target compare the
    /// two.
    pub fn verify_strict(&self) -> bool {
        strict_preconditions(self) && self.equation_holds_alone(&one_hash(self))
    }

    /// `[s]B - [k]A` encodes to `R`, with `k` from `hash`.
    fn equation_holds_alone(&self, hash: &[u8; 64]) -> bool {
        let Some(s) = canonical_s(self.signature) else {
            return false;
        };
        let k = Scalar::from_bytes_mod_order_wide(hash);
        let minus_a = -self.key.to_edwards();
        let r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &minus_a, &s);
        r.compress().as_bytes() == self.signature.r_bytes()
    }

    /// What is hashed for `k`: `R`, the key `A`, the message pieces.
    fn hashed_parts(&self) -> Parts<'_> {
        let [m0, m1, m2] = self.message;
        [self.signature.r_bytes(), self.key.as_bytes(), m0, m1, m2]
    }
}

/// `SHA-512(R || A || M)` of one item.
fn one_hash(item: &SignedBytes<'_>) -> [u8; 64] {
    let mut hasher = Sha512::new();
    for part in item.hashed_parts() {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Checks every item; `result[i]` says whether item `i` verifies.
///
/// Items that `verify_strict` refuses before any curve arithmetic are
/// refused here the same way: a signature whose `R` is not the canonical
/// encoding of a point, or is a point of small order, whose `s` is not
/// below the group order, or a small-order key. The rest are checked
/// together (one random linear combination of their equations, see
/// `batch_equation_holds`); if the batch fails, each of them is
/// checked alone with `verify_strict`, so one bad signature never fails the
/// others. A batch of one is checked alone.
///
/// The exception: a signature whose `R` (or key) has a small-order
/// component besides its prime-order part can pass a batch while
/// `verify_strict` alone refuses it. Making one needs the secret key (the
/// equation still has to hold up to that component), so only the origin
/// itself could send one, and the homeserver checks the signature again on
/// its own and refuses it. Set `[gateway] batch_verify = false` to check
/// every signature alone.
pub fn verify_batch(items: &[SignedBytes<'_>]) -> Vec<bool> {
    let mut strong_keys = StrongKeys::default();
    let eligible: Vec<bool> = items
        .iter()
        .map(|item| strong_keys.check(item.key) && signature_preconditions(item.signature))
        .collect();
    let candidates: Vec<&SignedBytes<'_>> = items
        .iter()
        .zip(&eligible)
        .filter_map(|(item, &ok)| ok.then_some(item))
        .collect();
    if candidates.len() < 2 {
        // Alone, with the refusals already made.
        return items
            .iter()
            .zip(eligible)
            .map(|(item, ok)| ok && item.equation_holds_alone(&one_hash(item)))
            .collect();
    }
    let parts: Vec<Parts<'_>> = candidates.iter().map(|item| item.hashed_parts()).collect();
    let hashes = sha512_lanes::sha512_each(&parts);
    if batch_equation_holds(&candidates, &hashes) {
        return eligible;
    }
    // One by one, with the hashes already made.
    let mut hashes = hashes.iter();
    items
        .iter()
        .zip(eligible)
        .map(|(item, ok)| {
            ok && hashes
                .next()
                .is_some_and(|hash| item.equation_holds_alone(hash))
        })
        .collect()
}

/// The RFC 8032 §5.1.7 equation `[s]B = R + [k]A` for all items at once,
/// as a random linear combination: `[-Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢkᵢ]Aᵢ` is
/// the identity, where `kᵢ = SHA-512(Rᵢ || Aᵢ || Mᵢ)` and the 128-bit `zᵢ`
/// are derived from all the inputs ([`coefficients`]), so a sender can't
/// choose signatures whose errors cancel out. The items have passed
/// [`strict_preconditions`].
///
/// Two savings that leave the equation as it is: the terms of one key are
/// one term (`Σ [zᵢkᵢ]A = [Σ zᵢkᵢ]A`; requests that arrive together mostly
/// come from the same few servers), and `B` is multiplied from a table
/// made once ([`BASEPOINT`]).
fn batch_equation_holds(items: &[&SignedBytes<'_>], hashes: &[[u8; 64]]) -> bool {
    let mut s_values = Vec::with_capacity(items.len());
    let mut r_points = Vec::with_capacity(items.len());
    for item in items {
        let (Some(s), Some(r)) = (canonical_s(item.signature), decompress_r(item.signature)) else {
            return false;
        };
        s_values.push(s);
        r_points.push(r);
    }
    let zs = coefficients(hashes, items);
    let b_coefficient: Scalar = zs.iter().zip(&s_values).map(|(z, s)| z * s).sum();
    let keys = per_key_coefficients(items, &zs, hashes);
    let scalars = zs.iter().chain(keys.iter().map(|(_, sum)| sum));
    let points = r_points
        .into_iter()
        .chain(keys.iter().map(|(key, _)| key.to_edwards()));
    BASEPOINT
        .vartime_mixed_multiscalar_mul(once(-b_coefficient), scalars, points)
        .is_identity()
}

/// The multiples of `B` the batch equation needs, from a table made once.
static BASEPOINT: LazyLock<VartimeEdwardsPrecomputation> =
    LazyLock::new(|| VartimeEdwardsPrecomputation::new([ED25519_BASEPOINT_POINT]));

/// `Σ zᵢkᵢ` for each distinct key (compared by encoding), in the order the
/// keys first appear.
fn per_key_coefficients<'a>(
    items: &[&SignedBytes<'a>],
    zs: &[Scalar],
    hashes: &[[u8; 64]],
) -> Vec<(&'a VerifyingKey, Scalar)> {
    let mut keys: Vec<(&VerifyingKey, Scalar)> = Vec::new();
    for ((item, z), hash) in items.iter().zip(zs).zip(hashes) {
        let term = z * Scalar::from_bytes_mod_order_wide(hash);
        match keys
            .iter_mut()
            .find(|(key, _)| key.as_bytes() == item.key.as_bytes())
        {
            Some((_, sum)) => *sum += term,
            None => keys.push((item.key, term)),
        }
    }
    keys
}

/// The batch coefficients `zᵢ`: 128-bit values from SHA-512 over a label,
/// every `kᵢ` hash (which covers `Rᵢ`, `Aᵢ` and `Mᵢ`) and every `sᵢ`, then
/// expanded four at a time. Deterministic, like ed25519-dalek's own batch
/// check: what matters is that they depend on every input.
fn coefficients(hashes: &[[u8; 64]], items: &[&SignedBytes<'_>]) -> Vec<Scalar> {
    let mut seed = Sha512::new();
    seed.update(b"mxgate ed25519 batch coefficients v1");
    seed.update((items.len() as u64).to_le_bytes());
    for (hash, item) in hashes.iter().zip(items) {
        seed.update(hash);
        seed.update(item.signature.s_bytes());
    }
    let seed = seed.finalize();
    let mut zs = Vec::with_capacity(items.len());
    for counter in 0..items.len().div_ceil(4) as u64 {
        let block = Sha512::new()
            .chain_update(seed)
            .chain_update(counter.to_le_bytes())
            .finalize();
        for z in block.chunks_exact(16).take(items.len() - zs.len()) {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(z);
            zs.push(Scalar::from(u128::from_le_bytes(bytes)));
        }
    }
    zs
}

/// `s` as a scalar, if it is below the group order (`verify_strict`
/// refuses it otherwise).
fn canonical_s(signature: &Signature) -> Option<Scalar> {
    Scalar::from_canonical_bytes(*signature.s_bytes()).into()
}

/// `R` as a point, if it is the encoding of one.
fn decompress_r(signature: &Signature) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*signature.r_bytes()).decompress()
}

/// What `verify_strict` requires besides the equation: a key not of small
/// order, and [`signature_preconditions`].
fn strict_preconditions(item: &SignedBytes<'_>) -> bool {
    !item.key.is_weak() && signature_preconditions(item.signature)
}

/// `R` canonically encoded and not of small order, `s` below the group
/// order.
fn signature_preconditions(signature: &Signature) -> bool {
    let r = signature.r_bytes();
    is_canonical_y(r) && !SMALL_ORDER_Y.contains(&y_of(r)) && canonical_s(signature).is_some()
}

/// The keys of a batch already found not to be of small order: a batch
/// from one server checks its key once (the check costs three point
/// doublings and a comparison, ≈ 0.6 µs).
#[derive(Default)]
struct StrongKeys<'a>(Vec<&'a [u8; 32]>);

impl<'a> StrongKeys<'a> {
    /// Whether `key` is not of small order (`VerifyingKey::is_weak`).
    fn check(&mut self, key: &'a VerifyingKey) -> bool {
        if self.0.contains(&key.as_bytes()) {
            return true;
        }
        let strong = !key.is_weak();
        if strong {
            self.0.push(key.as_bytes());
        }
        strong
    }
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

    /// `o` with its message in three pieces, cut at a third and two thirds.
    fn borrow(o: &Owned) -> SignedBytes<'_> {
        let (third, two_thirds) = (o.message.len() / 3, 2 * o.message.len() / 3);
        SignedBytes {
            message: [
                &o.message[..third],
                &o.message[third..two_thirds],
                &o.message[two_thirds..],
            ],
            signature: &o.signature,
            key: &o.key,
        }
    }

    /// Checks `items` as a batch, and each alone here and with ed25519-dalek's
    /// `verify_strict` over the whole message: all three must agree.
    fn check(items: &[Owned]) -> Vec<bool> {
        let borrowed: Vec<SignedBytes<'_>> = items.iter().map(borrow).collect();
        let batch = verify_batch(&borrowed);
        let alone: Vec<bool> = borrowed.iter().map(SignedBytes::verify_strict).collect();
        let dalek: Vec<bool> = items
            .iter()
            .map(|o| o.key.verify_strict(&o.message, &o.signature).is_ok())
            .collect();
        assert_eq!(alone, dalek, "our strict check and dalek's differ");
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
    fn the_batch_equation_itself_accepts_valid_and_refuses_forged_sets() {
        // Not only the one-by-one fallback: the combined check must decide.
        let mut items: Vec<Owned> = (0..9).map(|n| signed(n % 4, &vec![n; 300])).collect();
        let holds = |items: &[Owned]| {
            let borrowed: Vec<SignedBytes<'_>> = items.iter().map(borrow).collect();
            let hashes: Vec<[u8; 64]> = borrowed.iter().map(one_hash).collect();
            batch_equation_holds(&borrowed.iter().collect::<Vec<_>>(), &hashes)
        };
        assert!(holds(&items));
        items[8].message[299] ^= 0x80;
        assert!(!holds(&items));
        items[8].message[299] ^= 0x80;
        items[2].key = key(7).verifying_key();
        assert!(!holds(&items));
    }

    #[test]
    fn one_keys_terms_are_added_up_and_a_forgery_among_them_still_fails() {
        let mut items: Vec<Owned> = (0..7).map(|n| signed(n % 2, &[n; 64])).collect();
        let borrowed: Vec<SignedBytes<'_>> = items.iter().map(borrow).collect();
        let refs: Vec<&SignedBytes<'_>> = borrowed.iter().collect();
        let hashes: Vec<[u8; 64]> = borrowed.iter().map(one_hash).collect();
        let zs = coefficients(&hashes, &refs);
        let keys = per_key_coefficients(&refs, &zs, &hashes);
        assert_eq!(keys.len(), 2);
        let term = |i: usize| zs[i] * Scalar::from_bytes_mod_order_wide(&hashes[i]);
        assert_eq!(keys[0].1, term(0) + term(2) + term(4) + term(6));
        assert_eq!(keys[1].1, term(1) + term(3) + term(5));
        // Swap two signatures of the same key: each is valid for some
        // message of that key, but not for the one it is paired with.
        let (first, second) = (items[2].signature, items[4].signature);
        items[2].signature = second;
        items[4].signature = first;
        assert_eq!(check(&items), [true, true, false, true, false, true, true]);
    }

    #[test]
    fn a_small_order_key_is_refused_every_time_it_appears() {
        let mut items: Vec<Owned> = (0..5).map(|n| signed(n % 2, &[n; 32])).collect();
        // The identity's encoding: a key of small order (`is_weak`).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).expect("a valid point");
        assert!(weak.is_weak());
        items[1].key = weak;
        items[3].key = weak;
        assert_eq!(check(&items), [true, false, true, false, true]);
    }

    #[test]
    fn an_s_above_the_group_order_is_refused_as_alone() {
        let mut items: Vec<Owned> = (0..3).map(|n| signed(n, b"msg")).collect();
        // With its top four bits set, s exceeds the group order (about
        // 2^252), which verify_strict refuses before any arithmetic.
        let mut bytes = items[0].signature.to_bytes();
        bytes[63] |= 0xf0;
        items[0].signature = Signature::from_bytes(&bytes);
        assert_eq!(check(&items), [false, true, true]);
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
