//! `xmatrix::sha512_lanes::sha512_each` against the `sha2` crate.
//!
//! The input is cut into up to 20 messages of five parts each: a header of
//! five bytes per message gives the part lengths (scaled, so messages span
//! several 128-byte blocks and end anywhere in one), the parts come from the
//! rest of the input, repeated as needed. Batches of every size reach every
//! grouping `sha512_each` makes (eight lanes, four lanes, alone), with lanes
//! of different lengths finishing at different blocks.
//!
//! Invariant: every digest equals `sha2::Sha512` over the concatenated parts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxgate_core::xmatrix::sha512_lanes::{Parts, sha512_each};
use sha2::{Digest, Sha512};

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 21);
    let Some((header, pool)) = rest.split_at_checked(5 * count) else {
        return;
    };
    let pool = if pool.is_empty() { &[0u8][..] } else { pool };
    let owned: Vec<[Vec<u8>; 5]> = header
        .chunks_exact(5)
        .enumerate()
        .map(|(i, lengths)| {
            std::array::from_fn(|p| {
                let length = usize::from(lengths[p]) * 3;
                (0..length)
                    .map(|j| pool[(i * 7 + p * 131 + j) % pool.len()])
                    .collect()
            })
        })
        .collect();
    let parts: Vec<Parts<'_>> = owned
        .iter()
        .map(|[a, b, c, d, e]| [&a[..], &b[..], &c[..], &d[..], &e[..]])
        .collect();
    let expected: Vec<[u8; 64]> = parts
        .iter()
        .map(|p| {
            p.iter()
                .fold(Sha512::new(), |h, part| h.chain_update(part))
                .finalize()
                .into()
        })
        .collect();
    assert_eq!(sha512_each(&parts), expected);
});
