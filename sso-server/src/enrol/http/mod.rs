//! Invitations' admin surface: the REST API. (The employee's invitation page is `enrol::pages`.)

pub mod api;
