//! Foreign-language bindings of `mobile-core`. This crate holds no code of its own:
//!
//! - `src/bin/uniffi-bindgen.rs`: the `uniffi-bindgen` command, of exactly the uniffi version
//!   `mobile-core` uses (pinned with `=` in the workspace).
//! - `generate.sh`: builds `mobile-core` and generates Kotlin, Swift and Python from the built
//!   library into `target/bindings/<language>/`. Generated code is never committed.
//! - `tests/python/test_*.py`, run by `run-python-tests.sh`: one file per scenario, loading the
//!   real library (built with the `test-support` feature, whose `TestServerSigner` plays the
//!   server) through the generated Python module.
