//! `--resume STATE`: the progress of a push, recorded as it goes.
//!
//! The state is a JSON file rewritten (to `STATE.tmp`, then renamed over `STATE`) before
//! the first request and after each confirmed chunk:
//!
//! ```json
//! {"version": 1, "input": "people.csv",
//!  "input_sha256": "9f2c...", "run_id": "0d6c...",
//!  "options": {"dry_run": false, "format": "csv", "mapping_sha256": null},
//!  "limits": {"max_items": 1000, "max_bytes": 5700000},
//!  "chunks": [{"index": 0, "rows": 1000, "created": 990, "updated": 0, "failed": 10}],
//!  "failures": [{"row": 17, "link_id": "...", "name": "Ann Lee", "extended_info": "number_taken_by_another_identifier"}]}
//! ```
//!
//! A chunk is confirmed when every item has its final answer. A run given an existing
//! state refuses (exit 2) when the input's SHA-256 or the options that change what is
//! sent (`--dry-run`, `--format`, `--map`) differ, keeps its run id (so an interrupted
//! chunk is re-sent with the same `Idempotency-Key`s: replayed, not applied twice), cuts
//! the chunks with the recorded limits, and skips the confirmed chunks. The deletion of
//! `--delete-missing` is not recorded: a resumed run lists the scope again, and users
//! deleted before are no longer listed.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chunk::ChunkLimits;
use crate::input::Format;
use crate::report::Failure;

/// The version of the state format this build writes and reads.
pub const STATE_VERSION: u32 = 1;

/// The options that change what a push sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentOptions {
    /// `--dry-run`.
    pub dry_run: bool,
    /// The input's format.
    pub format: Format,
    /// The fingerprint of `--map` ([`crate::input::Mapping::fingerprint`]), if any.
    pub mapping_sha256: Option<String>,
}

/// A confirmed chunk and its counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// The chunk's index.
    pub index: u32,
    /// Its rows.
    pub rows: u64,
    /// Users created.
    pub created: u64,
    /// Users updated.
    pub updated: u64,
    /// Rows failed (listed in [`State::failures`]).
    pub failed: u64,
}

/// The resume state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The input file as given (for people reading the state).
    pub input: String,
    /// SHA-256 (hex) of the input file.
    pub input_sha256: String,
    /// The run id in every `Idempotency-Key`.
    pub run_id: Uuid,
    /// What the run sends.
    pub options: SentOptions,
    /// The limits the chunks were cut with.
    pub limits: ChunkLimits,
    /// The confirmed chunks.
    pub chunks: Vec<ChunkRecord>,
    /// The failures of the confirmed chunks.
    pub failures: Vec<Failure>,
}

/// A state file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading failed.
    #[error("--resume {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Not a state file.
    #[error("--resume {path}: not a usersync state file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Another format version.
    #[error("--resume {path}: state format version {found}, this usersync reads {STATE_VERSION}")]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// The input file is not the one the state was recorded for.
    #[error(
        "--resume {path}: the input file changed since this state was recorded (its SHA-256 differs); start a fresh run with another state file"
    )]
    InputChanged {
        /// The file.
        path: PathBuf,
    },
    /// The options that change what is sent differ.
    #[error("--resume {path}: {what} differs from the run this state was recorded for")]
    OptionsChanged {
        /// The file.
        path: PathBuf,
        /// Which option.
        what: &'static str,
    },
    /// The server now takes smaller requests than the chunks recorded.
    #[error(
        "--resume {path}: the server's limits shrank since this state was recorded ({recorded_items} items / {recorded_bytes} bytes per request, now {items} / {bytes}); start a fresh run"
    )]
    LimitsShrank {
        /// The file.
        path: PathBuf,
        /// Items recorded.
        recorded_items: usize,
        /// Bytes recorded.
        recorded_bytes: usize,
        /// Items now.
        items: usize,
        /// Bytes now.
        bytes: usize,
    },
    /// Writing failed.
    #[error("--resume {path}: cannot write: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl State {
    /// The state of a fresh run, with a new random run id.
    pub fn fresh(
        input: &Path,
        input_sha256: &str,
        options: SentOptions,
        limits: ChunkLimits,
    ) -> Self {
        Self {
            version: STATE_VERSION,
            input: input.display().to_string(),
            input_sha256: input_sha256.to_owned(),
            run_id: Uuid::new_v4(),
            options,
            limits,
            chunks: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Reads the state at `path`; `None` when there is no such file (a first run).
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StateError::Read {
                    path: path.to_owned(),
                    source: e,
                });
            }
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| StateError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let version = value.get("version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(STATE_VERSION)) {
            return Err(match version {
                Some(v) => StateError::Version {
                    path: path.to_owned(),
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                },
                None => StateError::Parse {
                    path: path.to_owned(),
                    message: "no `version`".to_owned(),
                },
            });
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| StateError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })
    }

    /// Refuses a state recorded for another input or other options.
    pub fn check(
        &self,
        path: &Path,
        input_sha256: &str,
        options: &SentOptions,
    ) -> Result<(), StateError> {
        if self.input_sha256 != input_sha256 {
            return Err(StateError::InputChanged {
                path: path.to_owned(),
            });
        }
        let what = if self.options.dry_run != options.dry_run {
            Some("--dry-run")
        } else if self.options.format != options.format {
            Some("--format")
        } else if self.options.mapping_sha256 != options.mapping_sha256 {
            Some("--map")
        } else {
            None
        };
        match what {
            Some(what) => Err(StateError::OptionsChanged {
                path: path.to_owned(),
                what,
            }),
            None => Ok(()),
        }
    }

    /// Refuses to cut chunks larger than the server now takes.
    pub fn check_limits(&self, path: &Path, server: ChunkLimits) -> Result<(), StateError> {
        if self.limits.max_items > server.max_items || self.limits.max_bytes > server.max_bytes {
            return Err(StateError::LimitsShrank {
                path: path.to_owned(),
                recorded_items: self.limits.max_items,
                recorded_bytes: self.limits.max_bytes,
                items: server.max_items,
                bytes: server.max_bytes,
            });
        }
        Ok(())
    }

    /// The indices of the confirmed chunks.
    pub fn confirmed(&self) -> HashSet<u32> {
        self.chunks.iter().map(|c| c.index).collect()
    }

    /// Records a confirmed chunk and its failures.
    pub fn record(&mut self, chunk: ChunkRecord, failures: &[Failure]) {
        if self.chunks.iter().any(|c| c.index == chunk.index) {
            return;
        }
        self.chunks.push(chunk);
        self.failures.extend_from_slice(failures);
    }

    /// Writes the state to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let write = |e: io::Error| StateError::Write {
            path: path.to_owned(),
            source: e,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let text = serde_json::to_vec(self).map_err(|e| write(io::Error::other(e)))?;
        std::fs::write(&tmp, text).map_err(write)?;
        std::fs::rename(&tmp, path).map_err(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> SentOptions {
        SentOptions {
            dry_run: false,
            format: Format::Csv,
            mapping_sha256: None,
        }
    }

    fn limits() -> ChunkLimits {
        ChunkLimits {
            max_items: 1000,
            max_bytes: 5_700_000,
        }
    }

    fn temp_path() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("usersync-state-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("state.json")
    }

    #[test]
    fn a_state_round_trips_through_its_file() {
        let path = temp_path();
        assert_eq!(State::load(&path).unwrap(), None);
        let mut s = State::fresh(Path::new("people.csv"), "abc", options(), limits());
        s.record(
            ChunkRecord {
                index: 2,
                rows: 1000,
                created: 999,
                updated: 0,
                failed: 1,
            },
            &[Failure {
                row: Some(2017),
                link_id: None,
                name: Some("Ann".into()),
                extended_info: "has_dublicates".into(),
            }],
        );
        s.save(&path).unwrap();
        assert!(!path.with_file_name("state.json.tmp").exists());
        let loaded = State::load(&path).unwrap().unwrap();
        assert_eq!(loaded, s);
        assert_eq!(loaded.confirmed(), HashSet::from([2]));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["options"]["format"], "csv");
        assert_eq!(v["chunks"][0]["index"], 2);
    }

    #[test]
    fn recording_a_chunk_twice_keeps_one() {
        let mut s = State::fresh(Path::new("p.csv"), "abc", options(), limits());
        let rec = ChunkRecord {
            index: 0,
            rows: 1,
            created: 1,
            updated: 0,
            failed: 0,
        };
        s.record(rec, &[]);
        s.record(rec, &[]);
        assert_eq!(s.chunks.len(), 1);
    }

    #[test]
    fn another_input_or_other_options_are_refused() {
        let path = PathBuf::from("state.json");
        let s = State::fresh(Path::new("p.csv"), "abc", options(), limits());
        assert!(s.check(&path, "abc", &options()).is_ok());
        let e = s.check(&path, "abd", &options()).unwrap_err();
        assert!(matches!(e, StateError::InputChanged { .. }), "{e}");
        assert!(e.to_string().contains("input file changed"));
        let dry = SentOptions {
            dry_run: true,
            ..options()
        };
        assert!(matches!(
            s.check(&path, "abc", &dry).unwrap_err(),
            StateError::OptionsChanged {
                what: "--dry-run",
                ..
            }
        ));
        let mapped = SentOptions {
            mapping_sha256: Some("m".into()),
            ..options()
        };
        assert!(matches!(
            s.check(&path, "abc", &mapped).unwrap_err(),
            StateError::OptionsChanged { what: "--map", .. }
        ));
    }

    #[test]
    fn smaller_server_limits_are_refused() {
        let path = PathBuf::from("state.json");
        let s = State::fresh(Path::new("p.csv"), "abc", options(), limits());
        assert!(s.check_limits(&path, limits()).is_ok());
        assert!(
            s.check_limits(
                &path,
                ChunkLimits {
                    max_items: 500,
                    ..limits()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn other_files_and_versions_are_refused() {
        let path = temp_path();
        std::fs::write(&path, "{\"version\": 2}").unwrap();
        assert!(matches!(
            State::load(&path).unwrap_err(),
            StateError::Version { found: 2, .. }
        ));
        std::fs::write(&path, "[]").unwrap();
        assert!(matches!(
            State::load(&path).unwrap_err(),
            StateError::Parse { .. }
        ));
    }
}
