//! SHA-512 of several messages at once, one message per 64-bit lane of a
//! vector register (FIPS 180-4 §6.4, computed eight times side by side).
//!
//! A batch of request signatures needs one SHA-512 per signature over
//! `R || A || message` (RFC 8032 §5.1.7). One hash keeps a single 64-bit
//! data path busy; on a CPU with AVX-512 the same instructions work on eight
//! lanes, so eight hashes cost about what one does. This is what lets a
//! batch share the hashing as well as the curve arithmetic
//! (docs/performance.md, fifth pass).
//!
//! [`sha512_each`] gives exactly the digests of the `sha2` crate (tests
//! below and the `batch_verify` fuzz target compare them). Without AVX-512,
//! or for a single message, it hashes them one by one with `sha2`.

use sha2::{Digest, Sha512};

/// A message given as five parts hashed as if concatenated (for a
/// signature: `R`, the key `A`, and the signed bytes in three pieces).
pub type Parts<'a> = [&'a [u8]; 5];

/// Messages hashed side by side.
const LANES: usize = 8;

/// One 64-bit word of each lane.
type Words = [u64; LANES];

/// The same operation on every lane: `lanes!(l => expr)` evaluates `expr`
/// for each lane index `l` (for the portable [`compress`]).
macro_rules! lanes {
    ($l:ident => $e:expr) => {{
        let mut out: Words = [0; LANES];
        for $l in 0..LANES {
            out[$l] = $e;
        }
        out
    }};
}

/// The SHA-512 digest of each message, in order.
pub fn sha512_each(messages: &[Parts<'_>]) -> Vec<[u8; 64]> {
    let vectors = Vectors::detect();
    let mut digests = Vec::with_capacity(messages.len());
    let mut rest = messages;
    while !rest.is_empty() {
        let (kernel, take) = vectors.plan(rest.len());
        let (group, tail) = rest.split_at(take);
        match kernel {
            Kernel::OneByOne => digests.extend(group.iter().map(one_by_one)),
            Kernel::Lanes4 | Kernel::Lanes8 => {
                digests.extend_from_slice(&hash_group_with(kernel, group)[..group.len()]);
            }
        }
        rest = tail;
    }
    digests
}

/// How a group of messages is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// `sha2`, one message after the other.
    OneByOne,
    /// Up to four messages in 256-bit registers.
    Lanes4,
    /// Up to eight messages in 512-bit registers.
    Lanes8,
}

/// The vector instructions this CPU has for the lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vectors {
    /// None: every message is hashed with `sha2`.
    None,
    /// AVX-512F: eight lanes.
    Wide,
    /// AVX-512F and VL: eight lanes or four.
    WideAndNarrow,
}

impl Vectors {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected;
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                return Self::WideAndNarrow;
            }
            if is_x86_feature_detected!("avx512f") {
                return Self::Wide;
            }
        }
        Self::None
    }

    /// How to hash the next of `remaining` messages, and how many of them.
    /// A lane block costs about as much whether its lanes are full or not:
    /// with `verify-cost` figures (per 128-byte block, `sha2` = 1), eight
    /// lanes ≈ 2.4 and four ≈ 1.5 here, so a group is worth filling and the
    /// last one or two messages are cheaper alone.
    fn plan(self, remaining: usize) -> (Kernel, usize) {
        match (self, remaining) {
            (Self::None, n) => (Kernel::OneByOne, n),
            (_, 1) => (Kernel::OneByOne, 1),
            (Self::WideAndNarrow, 2..=4) => (Kernel::Lanes4, remaining),
            (Self::Wide, 2) => (Kernel::OneByOne, 2),
            (_, n) => (Kernel::Lanes8, n.min(LANES)),
        }
    }
}

/// SHA-512 of one message with the `sha2` crate.
fn one_by_one(parts: &Parts<'_>) -> [u8; 64] {
    let mut hasher = Sha512::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// [`hash_group`] with the vector compression `kernel` names; the CPU has
/// it ([`Vectors::detect`] chose it).
#[allow(unsafe_code)]
fn hash_group_with(kernel: Kernel, group: &[Parts<'_>]) -> [[u8; 64]; LANES] {
    #[cfg(target_arch = "x86_64")]
    match kernel {
        // SAFETY: `Vectors::plan` picks these kernels only when
        // `Vectors::detect` found the CPU features they are compiled for.
        Kernel::Lanes8 => return hash_group(group, |s, b| unsafe { avx512::compress8(s, b) }),
        Kernel::Lanes4 => return hash_group(group, |s, b| unsafe { avx512::compress4(s, b) }),
        Kernel::OneByOne => {}
    }
    let _ = kernel;
    hash_group(group, compress)
}

/// Hashes up to [`LANES`] messages side by side with `compress` (the
/// portable [`compress`] or one of the AVX-512 ones).
fn hash_group(
    group: &[Parts<'_>],
    compress: impl Fn(&[Words; 8], &[Words; 16]) -> [Words; 8],
) -> [[u8; 64]; LANES] {
    debug_assert!(group.len() <= LANES);
    // Padding adds 0x80 and the 16-byte length: a message of `n` bytes
    // takes (n + 17) / 128 blocks, rounded up. Unused lanes take none.
    let mut lengths = [0usize; LANES];
    let mut blocks = [0usize; LANES];
    for (l, parts) in group.iter().enumerate() {
        lengths[l] = parts.iter().map(|part| part.len()).sum();
        blocks[l] = (lengths[l] + 17).div_ceil(128);
    }
    let most = blocks.iter().copied().max().unwrap_or(0);
    let mut state = [[0u64; LANES]; 8];
    for (word, initial) in state.iter_mut().zip(H0) {
        *word = [initial; LANES];
    }
    let mut buffer = [[0u8; 128]; LANES];
    let mut words = [[0u64; LANES]; 16];
    for block in 0..most {
        // A block inside one part (most of a long body) is read where it
        // lies; the others are assembled, with their padding, in `buffer`.
        let mut inside: [Option<&[u8; 128]>; LANES] = [None; LANES];
        for (l, parts) in group.iter().enumerate() {
            if block < blocks[l] {
                inside[l] = block_inside_part(parts, block);
                if inside[l].is_none() {
                    fill_block(parts, lengths[l], block, blocks[l], &mut buffer[l]);
                }
            }
        }
        let sources: [&[u8; 128]; LANES] = std::array::from_fn(|l| inside[l].unwrap_or(&buffer[l]));
        for (t, word) in words.iter_mut().enumerate() {
            for (l, bytes) in sources.iter().enumerate() {
                let mut be = [0u8; 8];
                be.copy_from_slice(&bytes[8 * t..8 * t + 8]);
                word[l] = u64::from_be_bytes(be);
            }
        }
        let next = compress(&state, &words);
        for (word, new) in state.iter_mut().zip(next.iter()) {
            for l in 0..LANES {
                if block < blocks[l] {
                    word[l] = new[l];
                }
            }
        }
    }
    let mut digests = [[0u8; 64]; LANES];
    for (l, digest) in digests.iter_mut().enumerate() {
        for (i, word) in state.iter().enumerate() {
            digest[8 * i..8 * i + 8].copy_from_slice(&word[l].to_be_bytes());
        }
    }
    digests
}

/// Block `block` of the message, when its 128 bytes all lie in one of the
/// parts (then it holds no padding: the padding follows the last byte).
fn block_inside_part<'a>(parts: &Parts<'a>, block: usize) -> Option<&'a [u8; 128]> {
    let start = 128 * block;
    let mut offset = 0;
    for part in parts {
        if start < offset + part.len() {
            let from = start.checked_sub(offset)?;
            return part.get(from..from + 128)?.try_into().ok();
        }
        offset += part.len();
    }
    None
}

/// Writes block `block` (of `count`) of the padded message into `out`.
fn fill_block(parts: &Parts<'_>, length: usize, block: usize, count: usize, out: &mut [u8; 128]) {
    let start = 128 * block;
    let end = start + 128;
    out.fill(0);
    let mut offset = 0;
    for part in parts {
        let (from, to) = (offset.max(start), (offset + part.len()).min(end));
        if from < to {
            out[from - start..to - start].copy_from_slice(&part[from - offset..to - offset]);
        }
        offset += part.len();
    }
    if (start..end).contains(&length) {
        out[length - start] = 0x80;
    }
    if block + 1 == count {
        let bits = (length as u128) * 8;
        out[112..].copy_from_slice(&bits.to_be_bytes());
    }
}

/// One SHA-512 compression (FIPS 180-4 §6.4.2) of every lane: the state
/// after the block, chaining value added. Portable; the reference for
/// `avx512::compress8` and `compress4`.
fn compress(state: &[Words; 8], block: &[Words; 16]) -> [Words; 8] {
    let mut w = *block;
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for (t, k) in K.iter().enumerate() {
        if t >= 16 {
            let (w2, w7, w15, w16) = (
                w[(t - 2) % 16],
                w[(t - 7) % 16],
                w[(t - 15) % 16],
                w[t % 16],
            );
            w[t % 16] = lanes!(l => {
                small_sigma1(w2[l])
                    .wrapping_add(w7[l])
                    .wrapping_add(small_sigma0(w15[l]))
                    .wrapping_add(w16[l])
            });
        }
        let wt = w[t % 16];
        let t1 = lanes!(l => {
            h[l].wrapping_add(big_sigma1(e[l]))
                .wrapping_add((e[l] & f[l]) ^ (!e[l] & g[l]))
                .wrapping_add(*k)
                .wrapping_add(wt[l])
        });
        let t2 = lanes!(l => big_sigma0(a[l]).wrapping_add((a[l] & b[l]) ^ (a[l] & c[l]) ^ (b[l] & c[l])));
        h = g;
        g = f;
        f = e;
        e = lanes!(l => d[l].wrapping_add(t1[l]));
        d = c;
        c = b;
        b = a;
        a = lanes!(l => t1[l].wrapping_add(t2[l]));
    }
    let mut after = [a, b, c, d, e, f, g, h];
    for (word, before) in after.iter_mut().zip(state) {
        *word = lanes!(l => before[l].wrapping_add(word[l]));
    }
    after
}

#[inline(always)]
fn big_sigma0(x: u64) -> u64 {
    x.rotate_right(28) ^ x.rotate_right(34) ^ x.rotate_right(39)
}

#[inline(always)]
fn big_sigma1(x: u64) -> u64 {
    x.rotate_right(14) ^ x.rotate_right(18) ^ x.rotate_right(41)
}

#[inline(always)]
fn small_sigma0(x: u64) -> u64 {
    x.rotate_right(1) ^ x.rotate_right(8) ^ (x >> 7)
}

#[inline(always)]
fn small_sigma1(x: u64) -> u64 {
    x.rotate_right(19) ^ x.rotate_right(61) ^ (x >> 6)
}

/// [`compress`] in AVX-512 registers, one 64-bit lane per message: all
/// eight lanes in 512-bit registers ([`avx512::compress8`]), or the first
/// four in 256-bit ones ([`avx512::compress4`], AVX-512VL), which costs
/// about two thirds as much per block here (AMD EPYC, where 512-bit
/// instructions are split in two).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::{
        __m256i, __m512i, _mm256_add_epi64, _mm256_loadu_si256, _mm256_ror_epi64,
        _mm256_set1_epi64x, _mm256_srli_epi64, _mm256_storeu_si256, _mm256_ternarylogic_epi64,
        _mm512_add_epi64, _mm512_loadu_si512, _mm512_ror_epi64, _mm512_set1_epi64,
        _mm512_srli_epi64, _mm512_storeu_si512, _mm512_ternarylogic_epi64,
    };

    use super::{K, Words};

    /// `ternarylogic` truth tables: `a ^ b ^ c`, `a ? b : c` (SHA's Ch) and
    /// the majority of `a, b, c` (SHA's Maj).
    const XOR3: i32 = 0x96;
    const CHOOSE: i32 = 0xca;
    const MAJORITY: i32 = 0xe8;

    /// Defines one compression function over a vector type; both share the
    /// round code below and differ only in register width.
    macro_rules! compress_in {
        ($(#[$doc:meta])* $name:ident, $features:literal, $vector:ty, $add:ident, $ror:ident,
         $shr:ident, $tern:ident, $splat:ident, $load:ident, $store:ident) => {
            $(#[$doc])*
            #[target_feature(enable = $features)]
            pub(super) fn $name(state: &[Words; 8], block: &[Words; 16]) -> [Words; 8] {
                // SAFETY (loads and stores): each `Words` is 64 bytes; the
                // vector is at most that wide; unaligned access is allowed.
                let load = |words: &Words| unsafe { $load(words.as_ptr().cast()) };
                let initial: [$vector; 8] = std::array::from_fn(|i| load(&state[i]));
                let mut w: [$vector; 16] = std::array::from_fn(|t| load(&block[t]));
                let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = initial;
                for (t, k) in K.iter().enumerate() {
                    if t >= 16 {
                        let (w2, w15) = (w[(t - 2) % 16], w[(t - 15) % 16]);
                        let s1 = $tern::<XOR3>($ror::<19>(w2), $ror::<61>(w2), $shr::<6>(w2));
                        let s0 = $tern::<XOR3>($ror::<1>(w15), $ror::<8>(w15), $shr::<7>(w15));
                        let sum = $add($add(s1, w[(t - 7) % 16]), $add(s0, w[t % 16]));
                        w[t % 16] = sum;
                    }
                    let sigma1 = $tern::<XOR3>($ror::<14>(e), $ror::<18>(e), $ror::<41>(e));
                    let choose = $tern::<CHOOSE>(e, f, g);
                    let constant = $add($splat(*k as i64), w[t % 16]);
                    let t1 = $add($add(h, sigma1), $add(choose, constant));
                    let sigma0 = $tern::<XOR3>($ror::<28>(a), $ror::<34>(a), $ror::<39>(a));
                    let t2 = $add(sigma0, $tern::<MAJORITY>(a, b, c));
                    h = g;
                    g = f;
                    f = e;
                    e = $add(d, t1);
                    d = c;
                    c = b;
                    b = a;
                    a = $add(t1, t2);
                }
                let after = [a, b, c, d, e, f, g, h];
                let mut next = *state;
                for (words, (before, now)) in next.iter_mut().zip(initial.iter().zip(after)) {
                    unsafe { $store(words.as_mut_ptr().cast(), $add(*before, now)) };
                }
                next
            }
        };
    }

    compress_in!(
        /// All eight lanes; see [`super::compress`].
        compress8, "avx512f", __m512i, _mm512_add_epi64, _mm512_ror_epi64,
        _mm512_srli_epi64, _mm512_ternarylogic_epi64, _mm512_set1_epi64,
        _mm512_loadu_si512, _mm512_storeu_si512
    );

    compress_in!(
        /// Lanes 0 to 3; the other lanes of the result are `state`'s.
        compress4, "avx512f,avx512vl", __m256i, _mm256_add_epi64, _mm256_ror_epi64,
        _mm256_srli_epi64, _mm256_ternarylogic_epi64, _mm256_set1_epi64x,
        _mm256_loadu_si256, _mm256_storeu_si256
    );
}

/// The first 64 bits of the fractional parts of the cube roots of the
/// first 80 primes (FIPS 180-4 §4.2.3).
const K: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];

/// The first 64 bits of the fractional parts of the square roots of the
/// first 8 primes (FIPS 180-4 §5.3.5).
const H0: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn message(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn the_empty_message_has_the_fips_digest() {
        // FIPS 180-4 example: SHA-512("") starts cf83e135 and ends f927da3e.
        let digest = hash_group(&[[&[][..], &[], &[], &[], &[]]], compress)[0];
        assert_eq!(digest[..4], [0xcf, 0x83, 0xe1, 0x35]);
        assert_eq!(digest[60..], [0xf9, 0x27, 0xda, 0x3e]);
    }

    #[test]
    fn every_length_around_the_block_edges_matches_sha2() {
        // Padding takes one extra block from 112 bytes on; lanes of
        // different lengths finish at different blocks.
        let bodies: Vec<Vec<u8>> = (0..300).map(|n| message(n, n as u8)).collect();
        for chunk in bodies.chunks(LANES) {
            let parts: Vec<Parts<'_>> =
                chunk.iter().map(|b| [&b[..], &[], &[], &[], &[]]).collect();
            let lanes = hash_group(&parts, compress);
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(lanes[i], one_by_one(p), "length {}", chunk[i].len());
            }
        }
    }

    #[test]
    fn a_block_is_read_in_place_only_when_one_part_holds_all_of_it() {
        let body = message(400, 7);
        // Parts of 32, 300 and 68 bytes: block 0 straddles the first two,
        // block 1 (bytes 128..256) lies in the second, block 2 (256..384)
        // straddles the second and third, block 3 runs past the end.
        let parts: Parts<'_> = [&body[..32], &body[32..332], &body[332..], &[], &[]];
        assert_eq!(block_inside_part(&parts, 0), None);
        assert_eq!(
            block_inside_part(&parts, 1).map(|b| &b[..]),
            Some(&body[128..256])
        );
        assert_eq!(block_inside_part(&parts, 2), None);
        assert_eq!(block_inside_part(&parts, 3), None);
        let whole: Parts<'_> = [&[], &body[..], &[], &[], &[]];
        assert_eq!(
            block_inside_part(&whole, 2).map(|b| &b[..]),
            Some(&body[256..384])
        );
        assert_eq!(block_inside_part(&whole, 3), None, "bytes 384..400 only");
    }

    #[test]
    fn every_batch_size_matches_sha2() {
        // Every split `plan` makes (8 lanes, 4 lanes, alone), on this CPU;
        // without AVX-512 this checks the one-by-one path instead.
        let bodies: Vec<Vec<u8>> = (0..21).map(|n| message(700 + 371 * n, n as u8)).collect();
        let parts: Vec<Parts<'_>> = bodies
            .iter()
            .map(|b| [&b[..32], &b[32..64], &b[64..100], &[], &b[100..]])
            .collect();
        let expected: Vec<[u8; 64]> = parts.iter().map(one_by_one).collect();
        for count in 0..=parts.len() {
            assert_eq!(
                sha512_each(&parts[..count]),
                expected[..count],
                "{count} messages"
            );
        }
    }

    #[test]
    fn the_plan_fills_wide_groups_and_leaves_single_messages_alone() {
        let wide = Vectors::WideAndNarrow;
        assert_eq!(wide.plan(1), (Kernel::OneByOne, 1));
        assert_eq!(wide.plan(3), (Kernel::Lanes4, 3));
        assert_eq!(wide.plan(5), (Kernel::Lanes8, 5));
        assert_eq!(wide.plan(20), (Kernel::Lanes8, 8));
        assert_eq!(Vectors::Wide.plan(2), (Kernel::OneByOne, 2));
        assert_eq!(Vectors::Wide.plan(3), (Kernel::Lanes8, 3));
        assert_eq!(Vectors::None.plan(20), (Kernel::OneByOne, 20));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    #[allow(unsafe_code)]
    fn the_vector_compressions_match_the_portable_one() {
        let vectors = Vectors::detect();
        if vectors == Vectors::None {
            return;
        }
        let word = |i: usize| (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let state: [Words; 8] = std::array::from_fn(|i| std::array::from_fn(|l| word(i * 8 + l)));
        let block: [Words; 16] =
            std::array::from_fn(|t| std::array::from_fn(|l| word(100 + t * 8 + l)));
        let portable = compress(&state, &block);
        // SAFETY: `detect` found AVX-512F (and VL for the four lanes).
        assert_eq!(unsafe { avx512::compress8(&state, &block) }, portable);
        if vectors == Vectors::WideAndNarrow {
            let four = unsafe { avx512::compress4(&state, &block) };
            for (i, words) in four.iter().enumerate() {
                assert_eq!(words[..4], portable[i][..4]);
                assert_eq!(words[4..], state[i][4..], "lanes 4 to 7 are left alone");
            }
        }
    }

    proptest! {
        /// Any split of any messages into three parts, any count.
        #[test]
        fn any_messages_match_sha2(
            specs in prop::collection::vec((0usize..400, 0usize..400, any::<u8>()), 0..20)
        ) {
            let bodies: Vec<(Vec<u8>, usize, usize)> = specs
                .iter()
                .map(|&(n, cut, seed)| {
                    let n = n + cut % 3;
                    (message(n, seed), cut.min(n), (cut / 2).min(n))
                })
                .collect();
            let parts: Vec<Parts<'_>> = bodies
                .iter()
                .map(|(b, x, y)| {
                    let (lo, hi) = (*x.min(y), *x.max(y));
                    [&b[..lo], &b[lo..hi], &[], &b[hi..], &[]]
                })
                .collect();
            let expected: Vec<[u8; 64]> = parts.iter().map(one_by_one).collect();
            prop_assert_eq!(sha512_each(&parts), expected.clone());
            for (i, group) in parts.chunks(LANES).enumerate() {
                let lanes = hash_group(group, compress);
                prop_assert_eq!(&lanes[..group.len()], &expected[i * LANES..i * LANES + group.len()]);
            }
        }
    }
}
