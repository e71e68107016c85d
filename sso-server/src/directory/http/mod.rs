//! The directory's admin surfaces: the REST API, and the console's domain and sync pages.

pub mod api;
pub mod console;
