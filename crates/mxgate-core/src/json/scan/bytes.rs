//! Byte-level helpers of the scan: finding the end of a plain string run,
//! reading a hex digit.

use super::{NotCanonical, Scan};

/// The position of the first byte in `bytes` that ends a run of plain ASCII
/// string characters: `"`, `\`, a control character (< 0x20) or a non-ASCII
/// byte (≥ 0x80, the start of a UTF-8 sequence the caller validates).
///
/// Sixteen bytes at a time with SSE2 (part of every x86_64 CPU): one signed
/// compare `< 0x20` flags the controls and, as negative numbers, the
/// non-ASCII bytes. Elsewhere eight at a time in a `u64` ([`special_in_word`]).
pub(super) fn special_byte(bytes: &[u8]) -> Option<usize> {
    let mut offset = 0;
    #[cfg(target_arch = "x86_64")]
    while let Some(chunk) = bytes.get(offset..offset + 16) {
        if let Some(found) = special_in_16(chunk) {
            return Some(offset + found);
        }
        offset += 16;
    }
    while let Some(chunk) = bytes.get(offset..offset + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        if let Some(found) = special_in_word(u64::from_le_bytes(word)) {
            return Some(offset + found);
        }
        offset += 8;
    }
    bytes[offset..]
        .iter()
        .position(|&b| is_special(b))
        .map(|position| offset + position)
}

/// Whether `byte` ends a plain ASCII run (see [`special_byte`]).
pub(super) fn is_special(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || !(0x20..0x80).contains(&byte)
}

/// The first special byte of a 16-byte chunk.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn special_in_16(chunk: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    assert_eq!(chunk.len(), 16);
    // SAFETY: SSE2 is part of the x86_64 baseline, always enabled for this
    // target; `chunk` has 16 readable bytes (checked above) and an unaligned
    // load is allowed.
    let mask = unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        let control_or_high = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
        _mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(quote, backslash),
            control_or_high,
        ))
    };
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

/// The first special byte of eight, little-endian in `w`: for a byte value
/// `c`, the classic `(x - 0x01…01) & !x & 0x80…80` with `x = w ^ c…c` flags
/// the bytes equal to `c`, `(w - 0x20…20) & !w & 0x80…80` those below 0x20,
/// and `w & 0x80…80` the non-ASCII ones. A borrow can flag a byte above a
/// flagged one, never below, so the lowest flag is exact.
fn special_in_word(w: u64) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let flags = (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (w.wrapping_sub(ONES * 0x20) & !w)
        | w;
    let flags = flags & HIGH;
    (flags != 0).then(|| flags.trailing_zeros() as usize / 8)
}

/// The value of a lowercase hex digit (the canonical writer's case).
pub(super) fn lower_hex(digit: u8) -> Scan<u8> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        _ => Err(NotCanonical),
    }
}
