//! The maker's side of a key, emulated: a vendor CA and the factory identity it certifies.
//!
//! A real hardware key leaves the factory with an attestation key made inside it and an X.509
//! certificate for that key, issued by the vendor's CA with the key's serial in the subject
//! (`serialNumber`). The vendor ships the inventory (serial, model, certificate) with the keys;
//! the SSO server trusts the vendor's CA (`keys.vendor_ca_file`), checks each certificate when
//! the inventory is imported, and from then on accepts only identities that this factory key
//! attests (see [`key_protocol::attest`]).
//!
//! [`VendorCa`] plays the vendor for the emulated key: `key-bridge vendor-ca` makes one,
//! `key-bridge provision` gives an emulated key its factory identity and prints its inventory
//! line ([`crate::EmulatedKey::provision`]).

use std::io::Write as _;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
};
use zeroize::Zeroizing;

/// The object identifier of the X.520 `serialNumber` attribute (2.5.4.5).
pub const SERIAL_NUMBER_OID: [u64; 4] = [2, 5, 4, 5];

/// What can go wrong making or using a vendor CA.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} already exists; remove it to make a new vendor CA")]
    Exists(String),
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FactoryError {
    let path = path.display().to_string();
    move |source| FactoryError::Io {
        action,
        path,
        source,
    }
}

fn invalid(what: &'static str) -> impl FnOnce(rcgen::Error) -> FactoryError {
    move |e| FactoryError::Invalid {
        what,
        reason: e.to_string(),
    }
}

/// A P-256 public key (SEC1 uncompressed) as rcgen takes a certificate's subject key.
struct P256Public<'a>(&'a [u8]);

impl PublicKeyData for P256Public<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

/// A vendor's certificate authority: its certificate (PEM, what the server trusts) and its
/// private key (PEM, what only the vendor keeps).
pub struct VendorCa {
    cert_pem: String,
    key: KeyPair,
}

impl std::fmt::Debug for VendorCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorCa").finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, years: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365 * years);
}

impl VendorCa {
    /// A new CA named `name` (P-256, valid 20 years).
    pub fn generate(name: &str) -> Result<Self, FactoryError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(invalid("CA key"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, name);
        dn.push(DnType::CommonName, format!("{name} attestation CA"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, 20);
        let cert = params
            .self_signed(&key)
            .map_err(invalid("CA certificate"))?;
        Ok(Self {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Reads a CA written by [`VendorCa::save`] (or any P-256 CA certificate and its PKCS#8 key).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, FactoryError> {
        let cert_pem = std::fs::read_to_string(cert_path).map_err(io("read", cert_path))?;
        let key_pem =
            Zeroizing::new(std::fs::read_to_string(key_path).map_err(io("read", key_path))?);
        let key = KeyPair::from_pem(&key_pem).map_err(invalid("vendor CA key"))?;
        // Checked now, so that a wrong pair fails here and not at the first key.
        Issuer::from_ca_cert_pem(&cert_pem, &key).map_err(invalid("vendor CA certificate"))?;
        let der = pem_der(&cert_pem)?;
        let raw = key.public_key_raw();
        if !der.windows(raw.len()).any(|w| w == raw) {
            return Err(FactoryError::Invalid {
                what: "vendor CA key",
                reason: "it is not the key of the CA certificate".into(),
            });
        }
        Ok(Self { cert_pem, key })
    }

    /// Writes the certificate (mode 0644) and the private key (mode 0600); refuses to replace
    /// either.
    pub fn save(&self, cert_path: &Path, key_path: &Path) -> Result<(), FactoryError> {
        for p in [cert_path, key_path] {
            if p.exists() {
                return Err(FactoryError::Exists(p.display().to_string()));
            }
        }
        write_new(key_path, self.key.serialize_pem().as_bytes(), 0o600)?;
        write_new(cert_path, self.cert_pem.as_bytes(), 0o644)
    }

    /// The CA certificate, PEM: what the SSO server is configured to trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues the factory certificate (DER) of the attestation key `public_key` (SEC1
    /// uncompressed P-256) of the key `serial`.
    pub fn certify(
        &self,
        serial: &str,
        model: &str,
        public_key: &[u8],
    ) -> Result<Vec<u8>, FactoryError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)
            .map_err(invalid("vendor CA certificate"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{model} attestation"));
        dn.push(DnType::CustomDnType(SERIAL_NUMBER_OID.to_vec()), serial);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params, 20);
        let cert = params
            .signed_by(&P256Public(public_key), &issuer)
            .map_err(invalid("attestation certificate"))?;
        Ok(cert.der().to_vec())
    }
}

/// A key's line in the vendor's inventory, as the server imports it: `serial,model,certificate`
/// (the certificate's DER in base64url).
pub fn inventory_line(serial: &str, model: &str, certificate_der: &[u8]) -> String {
    format!("{serial},{model},{}", key_protocol::b64(certificate_der))
}

fn pem_der(pem: &str) -> Result<Vec<u8>, FactoryError> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| FactoryError::Invalid {
            what: "vendor CA certificate",
            reason: e.to_string(),
        })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FactoryError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io("create", path))?;
    file.write_all(bytes).map_err(io("write", path))?;
    file.sync_all().map_err(io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_ca_loads_and_certifies() {
        let dir = tempfile::tempdir().unwrap();
        let ca = VendorCa::generate("Test Vendor").unwrap();
        let (c, k) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
        ca.save(&c, &k).unwrap();
        assert!(matches!(ca.save(&c, &k), Err(FactoryError::Exists(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&k).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = VendorCa::load(&c, &k).unwrap();
        let pk = key_protocol::IdentityKey::generate().unwrap().public_key();
        let der = again.certify("K-1", "Hideez Key 4", &pk).unwrap();
        assert!(der.len() > 200);
        let line = inventory_line("K-1", "Hideez Key 4", &der);
        assert!(line.starts_with("K-1,Hideez Key 4,"), "{line}");
        // Another CA's key with this certificate is refused.
        let other = VendorCa::generate("Other").unwrap();
        let other_key = dir.path().join("other.key");
        write_new(&other_key, other.key.serialize_pem().as_bytes(), 0o600).unwrap();
        let err = VendorCa::load(&c, &other_key).unwrap_err();
        assert!(err.to_string().contains("not the key"), "{err}");
    }
}
