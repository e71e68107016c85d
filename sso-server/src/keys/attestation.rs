//! Which key may activate: the factory identity a key carries from its maker.
//!
//! A genuine key holds an attestation key made inside it at manufacture; the vendor's CA
//! certifies it for the key's serial (an X.509 certificate whose subject `serialNumber` is the
//! serial). The vendor ships that certificate with the inventory; the import checks it against
//! the CAs the server trusts (`keys.vendor_ca_file`) and records the attestation key. An
//! activation is then accepted only with an identity that this attestation key signed
//! ([`key_protocol::identity_statement`]), checked before the activation code is counted: a key
//! made in software by anyone else (another CA, or none) cannot activate and cannot spend the
//! real key's code attempts.

use std::path::Path;

use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::OID_X509_SERIALNUMBER;
use x509_parser::prelude::FromDer as _;
use x509_parser::time::ASN1Time;

/// The vendor CA certificates the server trusts (DER), read from `keys.vendor_ca_file`.
pub struct VendorRoots {
    certs: Vec<Vec<u8>>,
}

/// Reads the PEM bundle at `path`: one or more CA certificates. Read at each import, so a new
/// vendor CA needs no restart.
pub fn load_roots(path: &Path) -> Result<VendorRoots, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("keys.vendor_ca_file {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
        let pem = pem.map_err(|e| format!("keys.vendor_ca_file {}: {e}", path.display()))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("keys.vendor_ca_file {}: {e}", path.display()))?;
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(format!(
                "keys.vendor_ca_file {}: a certificate there is not a CA",
                path.display()
            ));
        }
        certs.push(pem.contents.clone());
    }
    if certs.is_empty() {
        return Err(format!(
            "keys.vendor_ca_file {}: no certificate found",
            path.display()
        ));
    }
    Ok(VendorRoots { certs })
}

/// Reads a certificate as the inventory gives it: PEM, or the DER in base64 (url-safe or
/// standard alphabet).
pub fn certificate_der(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
            .map_err(|_| "not a PEM certificate".to_owned())?;
        return Ok(pem.contents);
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(compact.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(&compact))
        .map_err(|_| "not a certificate (PEM, or its DER in base64)".to_owned())
}

impl VendorRoots {
    /// Checks that `der` is a factory certificate for the key `serial`, issued by a trusted
    /// vendor CA and valid at `now_ms`; returns the attestation public key (SEC1 uncompressed
    /// P-256). The error says what is wrong, for the import report.
    pub fn verify(&self, der: &[u8], serial: &str, now_ms: i64) -> Result<Vec<u8>, String> {
        let (rest, leaf) =
            X509Certificate::from_der(der).map_err(|_| "not an X.509 certificate".to_owned())?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let issued = self.certs.iter().any(|root| {
            X509Certificate::from_der(root).is_ok_and(|(_, root)| {
                root.subject() == leaf.issuer()
                    && leaf.verify_signature(Some(root.public_key())).is_ok()
            })
        });
        if !issued {
            return Err(
                "not issued by a vendor CA this server trusts (keys.vendor_ca_file)".into(),
            );
        }
        let now = ASN1Time::from_timestamp(now_ms / 1000).map_err(|e| e.to_string())?;
        if !leaf.validity().is_valid_at(now) {
            return Err("the certificate is expired or not valid yet".into());
        }
        let named: Vec<&str> = leaf
            .subject()
            .iter_by_oid(&OID_X509_SERIALNUMBER)
            .filter_map(|a| a.as_str().ok())
            .collect();
        if named != [serial] {
            return Err(format!(
                "the certificate is for serial {:?}, not {serial:?}",
                named.first().copied().unwrap_or("")
            ));
        }
        let pk = leaf.public_key().subject_public_key.data.to_vec();
        key_protocol::sign::check_public_key(&pk, "attestation")
            .map_err(|_| "the certified key is not a P-256 key".to_owned())?;
        Ok(pk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    };

    fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        (params, key, pem)
    }

    fn leaf(ca: &(CertificateParams, KeyPair, String), serial: &str) -> (Vec<u8>, Vec<u8>) {
        let subject = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 5]), serial);
        let issuer = Issuer::from_params(&ca.0, &ca.1);
        let der = params.signed_by(&subject, &issuer).unwrap().der().to_vec();
        (der, subject.public_key_raw().to_vec())
    }

    fn roots(pems: &[&str]) -> VendorRoots {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, pems.concat()).unwrap();
        load_roots(&path).unwrap()
    }

    #[test]
    fn only_a_trusted_vendor_certifies_a_serial() {
        let vendor = ca("Vendor");
        let other = ca("Other");
        let trusted = roots(&[&vendor.2]);
        let now = 1_800_000_000_000;
        let (der, pk) = leaf(&vendor, "K-1");
        assert_eq!(trusted.verify(&der, "K-1", now).unwrap(), pk);
        let err = trusted.verify(&der, "K-2", now).unwrap_err();
        assert!(err.contains("not \"K-2\""), "{err}");
        let (foreign, _) = leaf(&other, "K-1");
        let err = trusted.verify(&foreign, "K-1", now).unwrap_err();
        assert!(err.contains("not issued"), "{err}");
        // Both in the bundle: both trusted.
        assert!(roots(&[&vendor.2, &other.2])
            .verify(&foreign, "K-1", now)
            .is_ok());
        // The DER in base64 and the PEM read the same.
        let b64 = key_protocol::b64(&der);
        assert_eq!(certificate_der(&b64).unwrap(), der);
        assert!(certificate_der("not base64 !").is_err());
    }
}
