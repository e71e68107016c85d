//! The uniffi binding generator, of exactly the uniffi version mobile-core uses (the workspace
//! pins it). Used by `bindings/generate.sh`:
//! `uniffi-bindgen generate target/debug/libmobile_core.so --language python --out-dir DIR`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
