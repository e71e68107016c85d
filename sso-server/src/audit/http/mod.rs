//! The audit log's admin surfaces: the REST API and the console page.

pub mod api;
pub mod console;
