//! Request bodies.

pub mod bulk;
pub mod delete_or_restore;
