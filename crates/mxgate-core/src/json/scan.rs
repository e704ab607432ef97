//! The fast path for bodies that are already canonical: one pass over the
//! bytes, no tree.
//!
//! [`scan_canonical`] accepts exactly the bodies that [`parse_strict`] accepts
//! *and* that are byte-for-byte their own canonical encoding
//! ([`is_canonical_encoding`]). Synapse sends every federation body that way
//! (`encode_canonical_json`), so the gateway can check such a body, sign over
//! it and size its events without building, copying or dropping a JSON tree.
//! Anything else (whitespace, unsorted keys, a key with an escape, a
//! non-canonical escape, an error of any kind) gives `None`, and the caller
//! takes the tree path, which also reports the precise [`JsonError`].
//!
//! Why the rules below are exactly "canonical strict JSON": the canonical
//! writer ([`write_canonical`]) emits no whitespace, object keys in strictly
//! increasing code-point order (UTF-8 byte order; strictly, so a duplicate is
//! refused too), strings with only `"`, `\` and U+0000–U+001F escaped (`\b \f
//! \n \r \t`, else lowercase `\u00xx`), and integers in plain decimal within
//! ±(2^53−1). The tests and the `canonical_scan` fuzz target check the
//! equivalence against the tree path.
//!
//! [`parse_strict`]: super::parse_strict
//! [`is_canonical_encoding`]: super::is_canonical_encoding
//! [`write_canonical`]: super::write_canonical
//! [`JsonError`]: super::JsonError

use std::ops::Range;

use self::bytes::{lower_hex, special_byte};
use super::MAX_DEPTH;

/// Largest integer canonical JSON allows, 2^53−1 (its negation is the smallest).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Most array elements a [`CanonicalDoc`] indexes, over all the top-level
/// object's array members; a body with more gives `None` from
/// [`scan_canonical`] and takes the tree path. A `/send` body has at most 150
/// (50 PDUs, 100 EDUs); the limit keeps the index of a hostile body from
/// outgrowing the tree it replaces (an indexed element costs more memory
/// than the two bytes of `0,` it can be written in).
pub const MAX_INDEXED_ELEMENTS: usize = 1024;

/// A body proven to be canonical strict JSON, with the positions of the values
/// a `/send` envelope check needs: the members of the top-level object and
/// the elements of the arrays among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalDoc<'a> {
    bytes: &'a [u8],
    root: Kind,
    /// The top-level object's members, in (sorted) order.
    members: Vec<Node>,
    /// The elements of the top-level members that are arrays; each member's
    /// `children` range indexes into this.
    elements: Vec<Node>,
}

/// The JSON type of a scanned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{…}`
    Object,
    /// `[…]`
    Array,
    /// `"…"`
    String,
    /// An integer within ±(2^53−1).
    Integer,
    /// `true` or `false`.
    Bool,
    /// `null`
    Null,
}

/// One value of a [`CanonicalDoc`]: a member of the top-level object or an
/// element of one of its arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    kind: Kind,
    /// The member's key, without its quotes (empty for array elements).
    key: Range<usize>,
    /// The value's bytes: its own canonical encoding.
    span: Range<usize>,
    /// For a top-level member that is an array: its elements' indices.
    children: Range<usize>,
}

impl Node {
    /// The value's JSON type.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Length of the value's canonical encoding in bytes.
    pub fn len(&self) -> usize {
        self.span.len()
    }

    /// Whether the encoding is empty (never, for a scanned value).
    pub fn is_empty(&self) -> bool {
        self.span.is_empty()
    }
}

/// Scans `bytes`: `Some` exactly when [`super::parse_strict`] accepts them and
/// they are byte-for-byte their own canonical encoding
/// ([`super::is_canonical_encoding`]), except that a body with an object key
/// written with an escape, or with more than [`MAX_INDEXED_ELEMENTS`]
/// elements in the top-level object's arrays, also gives `None`; `None` means
/// "take the tree path", which also reports what is wrong.
pub fn scan_canonical(bytes: &[u8]) -> Option<CanonicalDoc<'_>> {
    // No separate UTF-8 pass: outside strings the grammar admits only ASCII,
    // and inside them every run of non-ASCII bytes is validated where the
    // scan meets it (`Scanner::plain_run`).
    // Sized for a `/send` body (four or five members; a PDU or EDU is
    // rarely under 400 bytes), so that the vectors seldom grow.
    let mut scanner = Scanner {
        bytes,
        pos: 0,
        members: Vec::with_capacity(8),
        elements: Vec::with_capacity((bytes.len() / 400).clamp(4, 160)),
    };
    let root = scanner.value(0, Record::Root).ok()?;
    if scanner.pos != bytes.len() {
        return None;
    }
    Some(CanonicalDoc {
        bytes,
        root,
        members: scanner.members,
        elements: scanner.elements,
    })
}

impl<'a> CanonicalDoc<'a> {
    /// The whole body, which is its own canonical encoding.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The top-level value's JSON type.
    pub fn root(&self) -> Kind {
        self.root
    }

    /// The top-level object's member `key`, if the body is an object that has
    /// it. Keys are compared as written: a scanned key contains no escape.
    pub fn member(&self, key: &str) -> Option<&Node> {
        let found = self
            .members
            .binary_search_by(|node| self.bytes[node.key.clone()].cmp(key.as_bytes()));
        found.ok().map(|index| &self.members[index])
    }

    /// The elements of `node`, a top-level member that is an array (empty for
    /// any other node).
    pub fn elements(&self, node: &Node) -> &[Node] {
        &self.elements[node.children.clone()]
    }

    /// The canonical encoding of `node`'s value.
    pub fn raw(&self, node: &Node) -> &'a [u8] {
        &self.bytes[node.span.clone()]
    }

    /// `node`'s value, when it is a string without escapes.
    pub fn plain_str(&self, node: &Node) -> Option<&'a str> {
        if node.kind != Kind::String {
            return None;
        }
        let inner = &self.raw(node)[1..node.len() - 1];
        if inner.contains(&b'\\') {
            return None;
        }
        std::str::from_utf8(inner).ok()
    }

    /// `node`'s value, when it is an integer.
    pub fn integer(&self, node: &Node) -> Option<i64> {
        if node.kind != Kind::Integer {
            return None;
        }
        std::str::from_utf8(self.raw(node)).ok()?.parse().ok()
    }
}

/// The bytes are not canonical strict JSON (the reason is not kept: the
/// caller's tree path finds and reports it).
struct NotCanonical;

type Scan<T> = Result<T, NotCanonical>;

/// Which positions a value's scan records.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Record {
    /// The top-level value: its members are recorded.
    Root,
    /// A top-level member: its elements are recorded, if it is an array.
    Member,
    /// Nothing below this value is recorded.
    Nothing,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    members: Vec<Node>,
    elements: Vec<Node>,
}

impl Scanner<'_> {
    /// Scans one value whose container is at nesting `depth` (0 for the
    /// top-level value).
    fn value(&mut self, depth: usize, record: Record) -> Scan<Kind> {
        Ok(match self.peek()? {
            b'{' => {
                self.object(depth + 1, record)?;
                Kind::Object
            }
            b'[' => {
                self.array(depth + 1, record)?;
                Kind::Array
            }
            b'"' => {
                self.string()?;
                Kind::String
            }
            b'-' | b'0'..=b'9' => {
                self.integer()?;
                Kind::Integer
            }
            b't' => self.literal(b"true", Kind::Bool)?,
            b'f' => self.literal(b"false", Kind::Bool)?,
            b'n' => self.literal(b"null", Kind::Null)?,
            _ => return Err(NotCanonical),
        })
    }

    fn object(&mut self, depth: usize, record: Record) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(NotCanonical);
        }
        self.pos += 1;
        if self.eat(b'}') {
            return Ok(());
        }
        let mut previous: Option<Range<usize>> = None;
        loop {
            let key = self.key()?;
            if let Some(previous) = previous
                && !sorts_before(&self.bytes[previous], &self.bytes[key.clone()])
            {
                return Err(NotCanonical);
            }
            self.expect(b':')?;
            let start = self.pos;
            let children_start = self.elements.len();
            let inner = if record == Record::Root {
                Record::Member
            } else {
                Record::Nothing
            };
            let kind = self.value(depth, inner)?;
            if record == Record::Root {
                self.members.push(Node {
                    kind,
                    key: key.clone(),
                    span: start..self.pos,
                    children: children_start..self.elements.len(),
                });
            }
            previous = Some(key);
            if !self.eat(b',') {
                return self.expect(b'}');
            }
        }
    }

    fn array(&mut self, depth: usize, record: Record) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(NotCanonical);
        }
        self.pos += 1;
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            let start = self.pos;
            let kind = self.value(depth, Record::Nothing)?;
            if record == Record::Member {
                if self.elements.len() == MAX_INDEXED_ELEMENTS {
                    return Err(NotCanonical);
                }
                self.elements.push(Node {
                    kind,
                    key: 0..0,
                    span: start..self.pos,
                    children: 0..0,
                });
            }
            if !self.eat(b',') {
                return self.expect(b']');
            }
        }
    }

    /// An object key: a string without escapes (canonical keys with escapes
    /// exist, but are rare enough to leave to the tree path). Returns the
    /// range between the quotes.
    fn key(&mut self) -> Scan<Range<usize>> {
        self.expect(b'"')?;
        let start = self.pos;
        // A `\` or a control character ends the plain run: not a plain key.
        if self.plain_run()? != b'"' {
            return Err(NotCanonical);
        }
        let end = self.pos;
        self.pos += 1;
        Ok(start..end)
    }

    /// A string value; its escapes must be the canonical ones.
    fn string(&mut self) -> Scan<()> {
        self.pos += 1;
        loop {
            let end = self.plain_run()?;
            self.pos += 1;
            match end {
                b'"' => return Ok(()),
                b'\\' => self.escape()?,
                _ => return Err(NotCanonical),
            }
        }
    }

    /// Moves over plain string characters: ASCII other than `"`, `\` and
    /// controls, and valid UTF-8 sequences. Each maximal run of non-ASCII
    /// bytes is checked on its own (a UTF-8 character never contains an
    /// ASCII byte, so the runs are valid exactly when the whole is). Returns
    /// the byte that ends the run, left unread: `"`, `\` or a control.
    fn plain_run(&mut self) -> Scan<u8> {
        loop {
            let rest = &self.bytes[self.pos..];
            let len = special_byte(rest).ok_or(NotCanonical)?;
            self.pos += len;
            if rest[len].is_ascii() {
                return Ok(rest[len]);
            }
            let non_ascii = &rest[len..];
            let run = non_ascii
                .iter()
                .position(u8::is_ascii)
                .unwrap_or(non_ascii.len());
            std::str::from_utf8(&non_ascii[..run]).map_err(|_| NotCanonical)?;
            self.pos += run;
        }
    }

    /// The rest of an escape, after its `\`.
    fn escape(&mut self) -> Scan<()> {
        match self.peek()? {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.pos += 1;
                Ok(())
            }
            b'u' => {
                let hex = self
                    .bytes
                    .get(self.pos + 1..self.pos + 5)
                    .ok_or(NotCanonical)?;
                let code = match hex {
                    [b'0', b'0', high @ (b'0' | b'1'), low] => {
                        (high - b'0') << 4 | lower_hex(*low)?
                    }
                    _ => return Err(NotCanonical),
                };
                // Those with a short form must use it.
                if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                    return Err(NotCanonical);
                }
                self.pos += 5;
                Ok(())
            }
            _ => Err(NotCanonical),
        }
    }

    /// `0` or `-?[1-9][0-9]*` within ±(2^53−1), not followed by a fraction
    /// or an exponent (`-0` is refused: the tree path reads it as a float).
    fn integer(&mut self) -> Scan<()> {
        let negative = self.eat(b'-');
        let digits = self.bytes[self.pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.bytes[self.pos..self.pos + digits];
        let value = match text {
            [] => return Err(NotCanonical),
            [b'0'] if !negative => 0,
            [b'1'..=b'9', ..] if digits <= 16 => text
                .iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')),
            _ => return Err(NotCanonical),
        };
        self.pos += digits;
        if value > MAX_SAFE_INTEGER || matches!(self.peek(), Ok(b'.' | b'e' | b'E')) {
            return Err(NotCanonical);
        }
        Ok(())
    }

    fn literal(&mut self, text: &[u8], kind: Kind) -> Scan<Kind> {
        if self.bytes[self.pos..].starts_with(text) {
            self.pos += text.len();
            Ok(kind)
        } else {
            Err(NotCanonical)
        }
    }

    fn peek(&self) -> Scan<u8> {
        self.bytes.get(self.pos).copied().ok_or(NotCanonical)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8) -> Scan<()> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(NotCanonical)
        }
    }
}

/// Whether key `a` sorts strictly before key `b` (byte order). The same as
/// `a < b`, without a `memcmp` call for keys that mostly differ in their
/// first bytes (a profile of the 10-PDU scan found 12 % of its time in
/// those calls).
fn sorts_before(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

mod bytes;
#[cfg(test)]
mod tests;
