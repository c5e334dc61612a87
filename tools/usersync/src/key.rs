//! Hashes: the input's fingerprint, the `Idempotency-Key` of each request, and the
//! 128-bit fingerprints the duplicate check keeps instead of strings.
//!
//! **The `Idempotency-Key`** of a request is the SHA-256 (hex, 64 characters) of the
//! input file's SHA-256, the run id, the phase (upsert, soft or hard delete, and whether a
//! dry run), the chunk index, the round (0 for the chunk's first request, then one more
//! for each re-send of its `not_processed` items) and the SHA-256 of the body (the
//! attempt's item set). So:
//!
//! - a retry of the same request (a transport error, 409, 429, 5xx) carries the same key,
//!   and a request whose answer was lost is replayed by the server, never applied twice;
//! - a re-send of the `not_processed` items is a new request with a new key (the server
//!   keeps a 200 as it was, `not_processed` included, under the first key);
//! - a run resumed from its state file has the same run id and file, so it re-sends an
//!   interrupted chunk with the same keys: replayed, not re-applied;
//! - a fresh run of the same file has a new random run id: it really runs again.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// What a request does, part of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `POST /api/v1/users/bulk`.
    Upsert,
    /// `POST /api/v1/users/bulk/delete` with `deleted: true`.
    SoftDelete,
    /// `DELETE /api/v1/users/bulk`.
    HardDelete,
}

impl Phase {
    /// Its name in the key material.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Upsert => "upsert",
            Phase::SoftDelete => "soft-delete",
            Phase::HardDelete => "hard-delete",
        }
    }
}

/// What identifies one request of a run; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct KeyParts<'a> {
    /// SHA-256 (hex) of the input file.
    pub input_sha256: &'a str,
    /// The run id (random per fresh run, kept in the resume state).
    pub run_id: Uuid,
    /// The endpoint.
    pub phase: Phase,
    /// Whether the request is a dry run.
    pub dry_run: bool,
    /// The chunk's index in its phase.
    pub chunk: u32,
    /// 0 for the chunk's first request, +1 for each re-send of `not_processed` items.
    pub round: u32,
}

/// The `Idempotency-Key` of a request with `body`: 64 hex characters.
pub fn idempotency_key(parts: KeyParts<'_>, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"usersync idempotency v1\n");
    h.update(parts.input_sha256.as_bytes());
    h.update(b"\n");
    h.update(parts.run_id.as_hyphenated().to_string().as_bytes());
    h.update(b"\n");
    h.update(parts.phase.as_str().as_bytes());
    h.update(if parts.dry_run {
        &b"\ndry\n"[..]
    } else {
        &b"\nreal\n"[..]
    });
    h.update(parts.chunk.to_string().as_bytes());
    h.update(b"\n");
    h.update(parts.round.to_string().as_bytes());
    h.update(b"\n");
    h.update(Sha256::digest(body));
    hex(&h.finalize())
}

/// A 128-bit fingerprint of `value` in `domain` (card numbers and PINs are different
/// domains: card 1234 and PIN 1234 do not clash).
pub fn fingerprint(domain: &str, value: &str) -> u128 {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// A 64-bit fingerprint of `value` in `domain`, for the duplicate check of card and PIN
/// numbers (a false duplicate among a million numbers has odds of about 1 in 36 million).
pub fn fingerprint64(domain: &str, value: &str) -> u64 {
    // The high half of the 128-bit fingerprint.
    (fingerprint(domain, value) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(run_id: Uuid) -> KeyParts<'static> {
        KeyParts {
            input_sha256: "ab",
            run_id,
            phase: Phase::Upsert,
            dry_run: false,
            chunk: 3,
            round: 0,
        }
    }

    #[test]
    fn the_key_is_stable_for_the_same_request() {
        let run = Uuid::new_v4();
        let a = idempotency_key(parts(run), b"{\"list_items\":[1]}");
        let b = idempotency_key(parts(run), b"{\"list_items\":[1]}");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_key_differs_across_runs_chunks_rounds_bodies_phases_and_dry_runs() {
        let run = Uuid::new_v4();
        let body = b"{\"list_items\":[1]}";
        let base = idempotency_key(parts(run), body);
        let variants = [
            idempotency_key(parts(Uuid::new_v4()), body),
            idempotency_key(
                KeyParts {
                    chunk: 4,
                    ..parts(run)
                },
                body,
            ),
            idempotency_key(
                KeyParts {
                    round: 1,
                    ..parts(run)
                },
                body,
            ),
            idempotency_key(parts(run), b"{\"list_items\":[2]}"),
            idempotency_key(
                KeyParts {
                    phase: Phase::SoftDelete,
                    ..parts(run)
                },
                body,
            ),
            idempotency_key(
                KeyParts {
                    dry_run: true,
                    ..parts(run)
                },
                body,
            ),
            idempotency_key(
                KeyParts {
                    input_sha256: "cd",
                    ..parts(run)
                },
                body,
            ),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(&base, v, "variant {i}");
        }
    }

    #[test]
    fn fingerprints_separate_domains() {
        assert_eq!(fingerprint("card", "1234"), fingerprint("card", "1234"));
        assert_ne!(fingerprint("card", "1234"), fingerprint("pin", "1234"));
        assert_ne!(fingerprint("card", "1234"), fingerprint("card", "12345"));
        assert_ne!(fingerprint64("card", "1234"), fingerprint64("pin", "1234"));
        assert_eq!(sha256_hex(b""), hex(&Sha256::digest(b"")));
    }
}
