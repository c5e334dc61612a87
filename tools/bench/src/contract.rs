//! Everything the bench takes from `shared`, in one place: the stored shapes and keys the
//! floors write and read as the functions do, the filter the filter-delete floor shares
//! with the function, and the token the functions accept. When `shared` moves an item,
//! this is the one file to follow it.

pub use shared::{
    auth::mint_hs256,
    domain::filter::{Filter, FilterError, FilterRequest},
    domain::{Identifier, LinkId, NumberKind, Timestamp},
    service::filter_plan::expression as filter_expression,
    store::{
        StoreError, keys,
        records::{StoredFactor, UserRecord},
        tx::TX_LIMIT,
    },
};
