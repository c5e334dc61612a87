//! Cutting a stream of items into requests within the server's limits.
//!
//! A chunk holds at most `max_items` items and its body at most `max_bytes` bytes
//! (95 % of the server's `maxPayloadSize`: a margin, not a necessity, as the body is
//! measured exactly). Chunks are cut deterministically from the file, so a resumed run
//! numbers them as the first run did.

use serde::{Deserialize, Serialize};

/// The body around a list of items: `prefix` item `,` item ... `suffix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// What comes before the first item.
    pub prefix: &'static str,
    /// What comes after the last item.
    pub suffix: &'static str,
}

/// `POST /api/v1/users/bulk`: `{"list_items": [...]}`.
pub const UPSERT: Envelope = Envelope {
    prefix: "{\"list_items\":[",
    suffix: "]}",
};

/// `POST /api/v1/users/bulk/delete`: `{"ids": [...], "deleted": true}`.
pub const SOFT_DELETE: Envelope = Envelope {
    prefix: "{\"ids\":[",
    suffix: "],\"deleted\":true}",
};

/// `DELETE /api/v1/users/bulk`: `{"link_ids": [...]}`.
pub const HARD_DELETE: Envelope = Envelope {
    prefix: "{\"link_ids\":[",
    suffix: "]}",
};

impl Envelope {
    /// The body length of `count` items whose JSON adds up to `item_bytes`.
    pub fn body_len(&self, count: usize, item_bytes: usize) -> usize {
        self.prefix.len() + self.suffix.len() + item_bytes + count.saturating_sub(1)
    }
}

/// The server's limits used to cut requests (recorded in the resume state: a resumed run
/// must cut the same chunks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLimits {
    /// Items per request (`bulk.maxOperations`).
    pub max_items: usize,
    /// Body bytes per request (95 % of `bulk.maxPayloadSize`).
    pub max_bytes: usize,
}

/// The server's limits when its ServiceProviderConfig is not there (404).
pub const DEFAULT_MAX_ITEMS: u64 = 1000;
/// The server's body limit when its ServiceProviderConfig is not there (404).
pub const DEFAULT_MAX_PAYLOAD: u64 = 6_000_000;

impl ChunkLimits {
    /// The limits for a server that takes `max_operations` items and `max_payload`
    /// bytes per request, with the 95 % margin on bytes.
    pub fn from_server(max_operations: u64, max_payload: u64) -> Self {
        let max_items = usize::try_from(max_operations.max(1)).unwrap_or(usize::MAX);
        let max_bytes = usize::try_from(max_payload / 100 * 95 + max_payload % 100 * 95 / 100)
            .unwrap_or(usize::MAX);
        Self {
            max_items,
            max_bytes,
        }
    }
}

/// One item of a chunk: its JSON and the row it came from (none for deletions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The input row, for the report.
    pub row: Option<u64>,
    /// The item's compact JSON.
    pub json: String,
}

/// One request's worth of items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Its index in its phase (0, 1, ...).
    pub index: u32,
    /// Its items, in file order.
    pub items: Vec<Item>,
}

impl Chunk {
    /// The body carrying the items at `positions` (indices into [`Self::items`]).
    pub fn body(&self, envelope: Envelope, positions: &[usize]) -> Vec<u8> {
        let bytes: usize = positions
            .iter()
            .filter_map(|p| self.items.get(*p))
            .map(|i| i.json.len())
            .sum();
        let mut body = Vec::with_capacity(envelope.body_len(positions.len(), bytes));
        body.extend_from_slice(envelope.prefix.as_bytes());
        for (n, item) in positions
            .iter()
            .filter_map(|p| self.items.get(*p))
            .enumerate()
        {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(item.json.as_bytes());
        }
        body.extend_from_slice(envelope.suffix.as_bytes());
        body
    }
}

/// Gathers items into chunks.
#[derive(Debug)]
pub struct Chunker {
    envelope: Envelope,
    limits: ChunkLimits,
    items: Vec<Item>,
    bytes: usize,
    next_index: u32,
}

impl Chunker {
    /// A chunker for requests of `envelope` within `limits`.
    pub fn new(envelope: Envelope, limits: ChunkLimits) -> Self {
        Self {
            envelope,
            limits,
            items: Vec::new(),
            bytes: 0,
            next_index: 0,
        }
    }

    /// Adds an item; answers the chunk it completes, if any (the chunk *before* this
    /// item, which then starts the next one). An item too large for a request of its own
    /// is handed back as `Err`: it cannot be sent.
    pub fn push(&mut self, item: Item) -> Result<Option<Chunk>, Item> {
        if self.envelope.body_len(1, item.json.len()) > self.limits.max_bytes {
            return Err(item);
        }
        let full = !self.items.is_empty()
            && (self.items.len() >= self.limits.max_items
                || self
                    .envelope
                    .body_len(self.items.len() + 1, self.bytes + item.json.len())
                    > self.limits.max_bytes);
        let done = if full { self.take() } else { None };
        self.bytes += item.json.len();
        self.items.push(item);
        Ok(done)
    }

    /// The last, partial chunk.
    pub fn finish(&mut self) -> Option<Chunk> {
        self.take()
    }

    fn take(&mut self) -> Option<Chunk> {
        if self.items.is_empty() {
            return None;
        }
        let chunk = Chunk {
            index: self.next_index,
            items: std::mem::take(&mut self.items),
        };
        self.bytes = 0;
        self.next_index += 1;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(row: u64, len: usize) -> Item {
        Item {
            row: Some(row),
            json: format!("\"{}\"", "x".repeat(len - 2)),
        }
    }

    fn cut(limits: ChunkLimits, sizes: &[usize]) -> (Vec<Chunk>, Vec<Item>) {
        let mut c = Chunker::new(UPSERT, limits);
        let mut chunks = Vec::new();
        let mut too_large = Vec::new();
        for (i, s) in sizes.iter().enumerate() {
            match c.push(item(i as u64 + 1, *s)) {
                Ok(Some(chunk)) => chunks.push(chunk),
                Ok(None) => {}
                Err(item) => too_large.push(item),
            }
        }
        chunks.extend(c.finish());
        (chunks, too_large)
    }

    #[test]
    fn chunks_are_cut_by_item_count() {
        let limits = ChunkLimits {
            max_items: 2,
            max_bytes: 1_000,
        };
        let (chunks, _) = cut(limits, &[10, 10, 10, 10, 10]);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.items.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let indices: Vec<u32> = chunks.iter().map(|c| c.index).collect();
        assert_eq!(indices, [0, 1, 2]);
        assert_eq!(chunks[2].items[0].row, Some(5));
    }

    #[test]
    fn chunks_are_cut_by_body_bytes_and_bodies_are_exactly_that_long() {
        // Envelope 17 bytes; three items of 30 with two commas: 109 bytes.
        let limits = ChunkLimits {
            max_items: 100,
            max_bytes: 109,
        };
        let (chunks, too_large) = cut(limits, &[30, 30, 30, 30, 70, 92, 93]);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.items.len()).collect();
        assert_eq!(sizes, [3, 1, 1, 1]);
        assert_eq!(too_large.len(), 1, "93 + 17 > 109");
        for c in &chunks {
            let all: Vec<usize> = (0..c.items.len()).collect();
            let body = c.body(UPSERT, &all);
            assert!(body.len() <= 109);
            let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                parsed["list_items"].as_array().unwrap().len(),
                c.items.len()
            );
        }
        let all: Vec<usize> = (0..3).collect();
        assert_eq!(chunks[0].body(UPSERT, &all).len(), 109);
    }

    #[test]
    fn a_body_of_some_positions_carries_just_those() {
        let chunk = Chunk {
            index: 0,
            items: vec![
                Item {
                    row: Some(1),
                    json: "\"a\"".into(),
                },
                Item {
                    row: Some(2),
                    json: "\"b\"".into(),
                },
                Item {
                    row: Some(3),
                    json: "\"c\"".into(),
                },
            ],
        };
        assert_eq!(
            chunk.body(SOFT_DELETE, &[0, 2]),
            b"{\"ids\":[\"a\",\"c\"],\"deleted\":true}"
        );
        assert_eq!(chunk.body(HARD_DELETE, &[1]), b"{\"link_ids\":[\"b\"]}");
    }

    #[test]
    fn server_limits_get_a_five_percent_margin_on_bytes() {
        let l = ChunkLimits::from_server(1000, 6_000_000);
        assert_eq!(l.max_items, 1000);
        assert_eq!(l.max_bytes, 5_700_000);
        assert_eq!(ChunkLimits::from_server(0, 199).max_items, 1);
        assert_eq!(ChunkLimits::from_server(1, 199).max_bytes, 189);
    }
}
