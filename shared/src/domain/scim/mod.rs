//! What SCIM 2.0 clients (Microsoft Entra ID, Okta) send, parsed into the product's
//! terms: filters (and, later in this folder, PATCH operations and the User resource).

pub mod filter;
pub mod patch;
pub mod schema;
pub mod user;
