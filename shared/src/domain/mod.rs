//! The domain: what a user is, what clients send about users and what they are told,
//! independent of HTTP and of DynamoDB.

pub mod filter;
pub mod json;
pub mod outcome;
pub mod scim;
pub mod time;
pub mod user;

pub use self::time::{TIMESTAMP_YEARS, Timestamp};
pub use self::user::*;
