//! The `Result` dialect of seed 003 (placeholder).
