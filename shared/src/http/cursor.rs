//! The `cursor` of a listing: where the next page starts, sealed so that it is opaque
//! (no table key, e-mail or card number readable in a URL or an access log), cannot be
//! altered, and works only with the listing that made it.
//!
//! A cursor is `base64url(nonce ‖ ChaCha20-Poly1305(position))`, with the listing's
//! parameters (everything but `cursor`, `limit` and `include`, in the order sent) as
//! associated data: a cursor sent with another filter fails to open, like a forged one.

use crate::domain::filter::pairs_digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::config::CursorKey;
use crate::service::read::Position;

/// Bytes of the nonce at the start of a sealed cursor.
const NONCE: usize = 12;
/// The longest cursor accepted (a scan of four segments is about 300 characters).
pub const MAX_CURSOR_CHARS: usize = 2048;

/// What a cursor is bound to: a digest of the listing's own parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding([u8; 32]);

impl Binding {
    /// The binding of the parameters `pairs` (already percent-decoded), in order.
    pub fn of<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs_digest(pairs))
    }
}

fn cipher(key: &CursorKey) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(key.bytes()))
}

/// Seals `position` for the listing `binding`.
pub fn seal(key: &CursorKey, binding: &Binding, position: &Position) -> String {
    let plain = serde_json::to_vec(position).unwrap_or_default();
    // A random nonce: 96 bits from a v4 UUID's random bytes, never reused in practice.
    let random = uuid::Uuid::new_v4();
    let nonce = &random.as_bytes()[..NONCE];
    let sealed = cipher(key)
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &plain,
                aad: &binding.0,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE + sealed.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    URL_SAFE_NO_PAD.encode(out)
}

/// Opens a cursor of the listing `binding`; `None` for anything this service did not
/// seal for that listing (altered, truncated, another filter's, another key's).
pub fn open(key: &CursorKey, binding: &Binding, cursor: &str) -> Option<Position> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    if bytes.len() <= NONCE {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE);
    let plain = cipher(key)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &binding.0,
            },
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::read::Segment;

    fn key() -> CursorKey {
        CursorKey::derive(b"0123456789abcdef")
    }

    fn position() -> Position {
        Position::Scan {
            segments: vec![
                Segment::After("IDENT#card#4711".into()),
                Segment::Done,
                Segment::Start,
                Segment::After("USER#91c615e3-1040-4815-8ecb-039a18b756b5".into()),
            ],
        }
    }

    #[test]
    fn a_sealed_position_opens_with_the_same_listing_only() {
        let bound = Binding::of([("active", "false")]);
        let cursor = seal(&key(), &bound, &position());
        assert!(!cursor.contains("4711") && !cursor.contains("USER"));
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe: {cursor}"
        );
        assert!(cursor.len() < 400, "{}", cursor.len());
        assert_eq!(open(&key(), &bound, &cursor), Some(position()));
        let other = Binding::of([("active", "true")]);
        assert_eq!(open(&key(), &other, &cursor), None, "another filter");
        let other_key = CursorKey::derive(b"another secret of 16+");
        assert_eq!(open(&other_key, &bound, &cursor), None, "another key");
        assert_ne!(
            seal(&key(), &bound, &position()),
            cursor,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn altered_or_foreign_cursors_do_not_open() {
        let bound = Binding::of([]);
        let cursor = seal(&key(), &bound, &Position::Ids { next: 7 });
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        for i in [0, NONCE, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert_eq!(open(&key(), &bound, &URL_SAFE_NO_PAD.encode(&bytes)), None);
            bytes[i] ^= 1;
        }
        for junk in [
            "",
            "x",
            "%%%",
            &"A".repeat(MAX_CURSOR_CHARS + 1),
            &cursor[..20],
        ] {
            assert_eq!(open(&key(), &bound, junk), None, "{junk}");
        }
    }

    #[test]
    fn bindings_tell_pairs_apart() {
        assert_ne!(Binding::of([("ab", "c")]), Binding::of([("a", "bc")]));
        assert_ne!(
            Binding::of([("a", "1"), ("b", "2")]),
            Binding::of([("b", "2"), ("a", "1")])
        );
    }
}
