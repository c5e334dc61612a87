//! Request bodies.

pub mod delete_or_restore;
