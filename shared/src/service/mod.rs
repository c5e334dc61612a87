//! What happens to a request: the rules of each operation, on top of the store.

pub mod cleanup;
pub mod filter_delete;
pub mod filter_plan;
pub(crate) mod known;
pub(crate) mod names;
pub mod read;
pub mod removal;
pub mod scim;
pub mod scim_bulk;
pub mod upsert;

pub use names::MAX_NAMESAKES;
