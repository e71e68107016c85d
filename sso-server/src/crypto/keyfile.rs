//! The data-encryption key: from `SSO_MASTER_KEY` (base64 of 32 bytes), from a configured file, or
//! from `<data_dir>/master.key`, which is generated on first start with mode 0600.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::config::Config;
use crate::error::{Error, Result};

pub const ENV_VAR: &str = "SSO_MASTER_KEY";

pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        // Do not leave the key in freed memory.
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl DataKey {
    pub fn generate() -> Result<Self> {
        Ok(Self(super::random_bytes::<32>()?))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the base64 text form (whitespace around it is ignored).
    pub fn from_base64(text: &str, source: &str) -> Result<Self> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            Error::Crypto(format!(
                "the data-encryption key in {source} is not valid base64"
            ))
        })?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::Crypto(format!(
                "the data-encryption key in {source} must be 32 bytes (44 base64 characters)"
            ))
        })?;
        Ok(Self(arr))
    }

    fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

/// Where the key came from, for the start-up log (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(std::path::PathBuf),
    Generated(std::path::PathBuf),
}

/// Loads the key, generating the default key file if nothing else is configured.
pub fn load_or_create(config: &Config) -> Result<(DataKey, KeySource)> {
    if let Ok(text) = std::env::var(ENV_VAR) {
        return Ok((
            DataKey::from_base64(&text, ENV_VAR)?,
            KeySource::Environment,
        ));
    }
    if let Some(path) = &config.master_key_file {
        let key = read_key_file(path)?;
        return Ok((key, KeySource::File(path.clone())));
    }
    let path = config.data_dir.join("master.key");
    if path.exists() {
        return Ok((read_key_file(&path)?, KeySource::File(path)));
    }
    let key = DataKey::generate()?;
    write_new_key_file(&path, &key)?;
    Ok((key, KeySource::Generated(path)))
}

fn read_key_file(path: &Path) -> Result<DataKey> {
    let text = std::fs::read_to_string(path).map_err(Error::io(format!(
        "reading the data-encryption key file {}",
        path.display()
    )))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "the data-encryption key file is readable by other users; chmod 600 it"
                );
            }
        }
    }
    DataKey::from_base64(&text, &path.display().to_string())
}

/// Creates the file exclusively with mode 0600, so two instances starting at once cannot each
/// write a different key, and the key is never world-readable even for a moment.
fn write_new_key_file(path: &Path, key: &DataKey) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!(
            "creating the data folder {}",
            dir.display()
        )))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(Error::io(format!(
        "creating the data-encryption key file {}",
        path.display()
    )))?;
    file.write_all(format!("{}\n", key.to_base64()).as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(Error::io(format!(
            "writing the data-encryption key file {}",
            path.display()
        )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let (k1, src) = load_or_create(&config).unwrap();
        assert!(matches!(src, KeySource::Generated(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (k2, src) = load_or_create(&config).unwrap();
        assert!(matches!(src, KeySource::File(_)));
        assert_eq!(k1.as_bytes(), k2.as_bytes());
    }

    #[test]
    fn bad_key_text_is_explained() {
        let msg = DataKey::from_base64("short", "test")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("test"), "{msg}");
        let msg = DataKey::from_base64("AAAA", "test")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("32 bytes"), "{msg}");
    }
}
