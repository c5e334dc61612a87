//! Duplicates inside an export in bounded memory, whatever its size.
//!
//! Every value that must be unique in the file (a link id, a card number, a PIN) is
//! recorded as a 64-bit fingerprint with its row and a label (its column and what it
//! is): 16 bytes an entry. Entries gather in a buffer of [`BUFFER_ENTRIES`]; a full
//! buffer is sorted and written to a temporary run file. At the end the runs and the
//! buffer are merged in fingerprint order, and every entry whose fingerprint an earlier
//! row already carries is a duplicate of that row. Memory stays at the buffer (16 MiB)
//! plus one read buffer per run; the runs take 16 bytes a value on disk, removed when
//! the check ends.
//!
//! A 64-bit fingerprint may collide: two different values of a file of a million rows
//! share one with a probability of about 10⁻⁷, and the file is then refused for a
//! duplicate it does not have (never the other way round).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use crate::input::{InputError, RowError};
use crate::validate::LinkIds;

/// Entries kept in memory before a run is written (16 MiB).
pub const BUFFER_ENTRIES: usize = 1 << 20;

/// One recorded value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    fingerprint: u64,
    row: u32,
    label: u32,
}

impl Entry {
    const BYTES: usize = 16;

    fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut b = [0; Self::BYTES];
        b[..8].copy_from_slice(&self.fingerprint.to_le_bytes());
        b[8..12].copy_from_slice(&self.row.to_le_bytes());
        b[12..].copy_from_slice(&self.label.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8; Self::BYTES]) -> Self {
        let mut fingerprint = [0; 8];
        fingerprint.copy_from_slice(&b[..8]);
        let mut row = [0; 4];
        row.copy_from_slice(&b[8..12]);
        let mut label = [0; 4];
        label.copy_from_slice(&b[12..]);
        Self {
            fingerprint: u64::from_le_bytes(fingerprint),
            row: u32::from_le_bytes(row),
            label: u32::from_le_bytes(label),
        }
    }
}

/// The duplicate check of one file (and, for `--delete-missing`, its link ids).
#[derive(Debug)]
pub struct Fingerprints {
    buffer: Vec<Entry>,
    runs: Vec<PathBuf>,
    /// Distinct (column, what) pairs; an entry names one by index.
    labels: Vec<(Option<String>, &'static str)>,
    buffer_entries: usize,
    /// The export's link ids, when kept.
    pub(crate) link_ids: Option<Vec<u128>>,
}

impl Default for Fingerprints {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Fingerprints {
    /// An empty check; `keep_link_ids` also keeps every link id (16 bytes a row).
    pub fn new(keep_link_ids: bool) -> Self {
        Self::with_buffer(keep_link_ids, BUFFER_ENTRIES)
    }

    fn with_buffer(keep_link_ids: bool, buffer_entries: usize) -> Self {
        Self {
            buffer: Vec::new(),
            runs: Vec::new(),
            labels: Vec::new(),
            buffer_entries,
            link_ids: keep_link_ids.then(Vec::new),
        }
    }

    /// Records a value of `row` (its `fingerprint`), found in `column`, that is a `what`
    /// (`link_id`, `card number`, `PIN`).
    pub fn record(
        &mut self,
        fingerprint: u64,
        row: u64,
        column: Option<String>,
        what: &'static str,
    ) {
        let label = match self
            .labels
            .iter()
            .position(|(c, w)| *c == column && *w == what)
        {
            Some(i) => i,
            None => {
                self.labels.push((column, what));
                self.labels.len() - 1
            }
        };
        self.buffer.push(Entry {
            fingerprint,
            row: u32::try_from(row).unwrap_or(u32::MAX),
            label: u32::try_from(label).unwrap_or(u32::MAX),
        });
        if self.buffer.len() >= self.buffer_entries {
            // A run that cannot be written is kept in memory instead: correct, larger.
            if let Err(e) = self.spill() {
                eprintln!("usersync: could not write a temporary file ({e}); keeping it in memory");
                self.buffer_entries = usize::MAX;
            }
        }
    }

    fn spill(&mut self) -> std::io::Result<()> {
        self.buffer.sort_unstable();
        let path = std::env::temp_dir().join(format!(
            "usersync-{}-{}-{}.run",
            std::process::id(),
            uuid::Uuid::new_v4().simple(),
            self.runs.len()
        ));
        let mut out = BufWriter::new(File::create(&path)?);
        self.runs.push(path);
        for e in &self.buffer {
            out.write_all(&e.to_bytes())?;
        }
        out.flush()?;
        self.buffer.clear();
        Ok(())
    }

    /// The duplicates (each naming the first row with its value), in row order, and the
    /// link ids kept.
    pub fn finish(mut self) -> Result<(Vec<RowError>, LinkIds), InputError> {
        self.buffer.sort_unstable();
        let mut sources: Vec<Box<dyn Iterator<Item = std::io::Result<Entry>>>> = Vec::new();
        for path in &self.runs {
            let file = File::open(path).map_err(InputError::Read)?;
            sources.push(Box::new(RunReader(BufReader::new(file))));
        }
        let buffer = std::mem::take(&mut self.buffer);
        sources.push(Box::new(buffer.into_iter().map(Ok)));
        let mut heap = BinaryHeap::new();
        for (i, source) in sources.iter_mut().enumerate() {
            if let Some(e) = source.next() {
                heap.push(Reverse((e.map_err(InputError::Read)?, i)));
            }
        }
        let mut duplicates = Vec::new();
        let mut first: Option<Entry> = None;
        while let Some(Reverse((entry, i))) = heap.pop() {
            if let Some(next) = sources[i].next() {
                heap.push(Reverse((next.map_err(InputError::Read)?, i)));
            }
            match first {
                Some(f) if f.fingerprint == entry.fingerprint => {
                    let (column, what) = self.labels[entry.label as usize].clone();
                    duplicates.push(RowError {
                        row: u64::from(entry.row),
                        column,
                        message: format!("the same {what} as row {}", f.row),
                    });
                }
                _ => first = Some(entry),
            }
        }
        duplicates.sort_by_key(|e| e.row);
        let mut ids = self.link_ids.take().unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        Ok((duplicates, LinkIds::from_sorted(ids)))
    }
}

impl Drop for Fingerprints {
    fn drop(&mut self) {
        for path in &self.runs {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The entries of a run file, in order.
struct RunReader(BufReader<File>);

impl Iterator for RunReader {
    type Item = std::io::Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut b = [0; Entry::BYTES];
        match self.0.read_exact(&mut b) {
            Ok(()) => Some(Ok(Entry::from_bytes(&b))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(f: Fingerprints) -> Vec<String> {
        f.finish()
            .unwrap()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_value_seen_again_names_its_first_row_across_spilled_runs() {
        let mut f = Fingerprints::with_buffer(false, 3);
        for row in 1..=10u64 {
            f.record(row * 100, row, Some("card".into()), "card number");
        }
        f.record(300, 11, Some("card".into()), "card number");
        f.record(700, 12, Some("pin".into()), "PIN");
        f.record(300, 13, Some("card".into()), "card number");
        assert!(f.runs.len() >= 3, "spilled: {}", f.runs.len());
        let runs = f.runs.clone();
        assert_eq!(
            messages(f),
            [
                "row 11, column card: the same card number as row 3",
                "row 12, column pin: the same PIN as row 7",
                "row 13, column card: the same card number as row 3",
            ]
        );
        assert!(runs.iter().all(|p| !p.exists()), "runs removed");
    }

    #[test]
    fn no_duplicates_no_errors_and_link_ids_sorted() {
        let mut f = Fingerprints::with_buffer(true, 2);
        for row in 1..=5u64 {
            f.record(row, row, None, "link_id");
            if let Some(ids) = &mut f.link_ids {
                ids.push(u128::from(6 - row));
            }
        }
        let (dups, ids) = f.finish().unwrap();
        assert!(dups.is_empty());
        assert_eq!(ids.len(), 5);
        assert!(ids.contains(1) && ids.contains(5) && !ids.contains(6));
    }
}
