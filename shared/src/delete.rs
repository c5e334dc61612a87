//! Hard delete and soft delete/restore (placeholder).
