//! Admin surfaces for relying parties (OIDC clients): the REST API and the console pages. The
//! protocol endpoints themselves live beside this folder (`authorize`, `token`, `userinfo`...).

pub mod api;
pub mod console;
