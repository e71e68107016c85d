//! Hardware keys' admin surfaces: the REST API and the console pages.

pub mod api;
pub mod console;
