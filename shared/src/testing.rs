//! Fixtures of the crate's unit tests.

use crate::domain::LinkId;

/// A user id of the tests.
pub(crate) const A: &str = "e98e00bb-a72b-43dc-951d-3e45be6dfd03";
/// Another user id of the tests.
pub(crate) const B: &str = "41a4a250-747f-4aca-845d-c390ebc002ae";

/// The id `s` (a UUID).
pub(crate) fn id(s: &str) -> LinkId {
    LinkId::from(uuid::Uuid::parse_str(s).expect("a UUID"))
}
