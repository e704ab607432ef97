//! Byte-level helpers of the scan: finding the end of a plain string run,
//! reading a hex digit.

use super::{NotCanonical, Scan};

/// The position of the first byte in `bytes` that ends a run of plain string
/// characters: `"`, `\` or a control character (< 0x20).
///
/// Eight bytes at a time: for a word `w` and a byte value `c`, the classic
/// `(x - 0x01…01) & !x & 0x80…80` with `x = w ^ c…c` flags the bytes equal to
/// `c`, and `(w - 0x20…20) & !w & 0x80…80` those below 0x20. A borrow can flag
/// a byte above a flagged one, never below, so the lowest flag is exact.
pub(super) fn special_byte(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for (index, chunk) in chunks.enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let flags = flags & HIGH;
        if flags != 0 {
            return Some(index * 8 + flags.trailing_zeros() as usize / 8);
        }
    }
    let offset = bytes.len() - tail.len();
    tail.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|position| offset + position)
}

/// The value of a lowercase hex digit (the canonical writer's case).
pub(super) fn lower_hex(digit: u8) -> Scan<u8> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        _ => Err(NotCanonical),
    }
}
