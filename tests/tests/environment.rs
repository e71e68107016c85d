//! The servers the test script starts are there and speak their protocols, so that a broken
//! set-up fails here, plainly, rather than deep inside a feature test.

use std::process::Command;

#[test]
fn samba_dc_answers_ldaps_with_a_verified_certificate() {
    let Some(dc) = e2e::SambaDc::corp() else {
        return;
    };
    let out = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", &dc.ca_file)
        .env("LDAPTLS_REQCERT", "demand")
        .args(["-x", "-H", &dc.url, "-D", &dc.admin, "-w", &dc.password])
        .args([
            "-b",
            &dc.base_dn,
            "-s",
            "base",
            "(objectClass=*)",
            "distinguishedName",
        ])
        .output()
        .expect("ldapsearch runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ldapsearch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.to_lowercase().contains(&dc.base_dn.to_lowercase()),
        "{stdout}"
    );
}
