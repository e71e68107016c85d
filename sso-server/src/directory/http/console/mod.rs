//! Console pages: domains (connection settings) and sync runs.

pub mod domains;
pub mod sync;
