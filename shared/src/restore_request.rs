//! Parsing of the seed 003 `DeleteOrRestore` body (placeholder).
