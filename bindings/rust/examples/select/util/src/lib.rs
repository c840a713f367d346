//! The utility crate of the selection example: its [`alloc`] module is the
//! one place that chooses the program's global allocator.
pub mod alloc;
