//! The answer shapes. Clients of each endpoint already parse one of three dialects, so
//! the shared outcome and error types are rendered per endpoint:
//!
//! - [`plain`]: `{"error": "..."}` and `{"result": [...]}` (upsert, delete).
//! - [`result`]: the `Result` object, in JSON or XML (soft delete and restore).
//! - [`filter`]: `{"error_type", "success", "error": {"message", "code", "reason"}}`
//!   (delete by filter).
//!
//! docs/contracts.md#dialects states each one.
pub mod filter;
pub mod plain;
pub mod read;
pub mod result;
pub mod scim;
