//! The answer shapes. Clients of each endpoint already parse one of three dialects, so
//! the shared outcome and error types are rendered per endpoint:
//!
//! - [`plain`]: `{"error": "..."}` and `{"result": [...]}` (seeds 000, 001, 002).
//! - [`result`]: the `Result` object, in JSON or XML (seed 003).
//! - [`filter`]: `{"error_type", "success", "error": {"message", "code", "reason"}}` (seed 004).
pub mod filter;
pub mod plain;
pub mod result;
