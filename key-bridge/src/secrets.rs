//! Where the agent's secrets come from: never the command line or the environment (both are
//! readable in `/proc/<pid>/` by the user's other processes, and land in shell history and logs).
//!
//! - **At a terminal**, each secret is asked for with a prompt on `/dev/tty`, without echo; a new
//!   PIN or password is asked twice.
//! - **Otherwise**, each secret is one line of standard input, in the order the command asks
//!   for them (e.g. `activate`: the activation code, then the PIN). Lines are read without
//!   buffering ahead, so one script can feed several commands from one stream, like the shell's
//!   `read`.
//! - The storage key that seals the agent's files is a file of its own (mode 0600, made on
//!   first use), never a variable.

use std::io::{IsTerminal as _, Read as _};
use std::os::fd::AsFd as _;
use std::path::Path;

use zeroize::Zeroizing;

/// The longest secret line read, in bytes.
const MAX_LINE: usize = 1024;

/// Reads secrets from the terminal or standard input.
pub struct Secrets {
    terminal: bool,
}

impl Default for Secrets {
    fn default() -> Self {
        Self::from_stdin()
    }
}

impl Secrets {
    /// Prompts when standard input is a terminal, reads lines otherwise.
    pub fn from_stdin() -> Self {
        Self {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    /// One secret: `what` names it in the prompt and in errors (e.g. "the key's PIN").
    pub fn ask(&mut self, what: &str) -> Result<Zeroizing<String>, String> {
        let value = if self.terminal {
            Zeroizing::new(
                rpassword::prompt_password(format!("{}: ", capitalised(what)))
                    .map_err(|e| format!("could not read {what} from the terminal: {e}"))?,
            )
        } else {
            read_line(what)?
        };
        let value = Zeroizing::new(value.trim().to_owned());
        if value.is_empty() {
            return Err(format!("{what} is empty"));
        }
        Ok(value)
    }

    /// A new secret (a PIN being set, a new password): at a terminal asked twice, and both must
    /// match.
    pub fn ask_new(&mut self, what: &str) -> Result<Zeroizing<String>, String> {
        let first = self.ask(what)?;
        if self.terminal {
            let again = self.ask(&format!("{what} again"))?;
            if *again != *first {
                return Err(format!("the two entries of {what} differ"));
            }
        }
        Ok(first)
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One line of standard input, read a byte at a time from the file descriptor itself (a
/// duplicate of fd 0, not Rust's buffered `Stdin`), so nothing after the line is consumed.
fn read_line(what: &str) -> Result<Zeroizing<String>, String> {
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("could not read {what} from standard input: {e}"))?;
    let mut input = std::fs::File::from(fd);
    let mut line = Zeroizing::new(Vec::with_capacity(64));
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                if line.len() >= MAX_LINE {
                    return Err(format!("{what}: the line is longer than {MAX_LINE} bytes"));
                }
                line.push(byte[0]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("could not read {what} from standard input: {e}")),
        }
    }
    if line.is_empty() {
        return Err(format!(
            "{what} is needed: type it at the prompt, or give it as a line of standard input"
        ));
    }
    let text = std::str::from_utf8(&line).map_err(|_| format!("{what} is not UTF-8"))?;
    Ok(Zeroizing::new(text.trim_end_matches('\r').to_owned()))
}

/// The 32-byte storage key from `path` (64 hex digits), made with the OS random generator and
/// written with mode 0600 when the file does not exist. A file others may read is refused.
pub fn storage_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, String> {
    let shown = path.display();
    if !path.exists() {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut key[..]).map_err(|e| format!("random generator: {e}"))?;
        let hex = Zeroizing::new(key.iter().map(|b| format!("{b:02x}")).collect::<String>());
        write_private(path, format!("{}\n", *hex).as_bytes())
            .map_err(|e| format!("could not create the storage key file {shown}: {e}"))?;
        return Ok(key);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("{shown}: {e}"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "the storage key file {shown} may be read by others (mode {:o}); chmod 600 it",
                mode & 0o777
            ));
        }
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("could not read {shown}: {e}"))?,
    );
    let bytes = text.trim().as_bytes();
    let bad = || format!("the storage key file {shown} must hold 64 hex digits");
    if bytes.len() != 64 {
        return Err(bad());
    }
    let mut out = Zeroizing::new([0u8; 32]);
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_key_file_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage.key");
        let first = storage_key(&path).unwrap();
        let again = storage_key(&path).unwrap();
        assert_eq!(*first, *again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = storage_key(&path).unwrap_err();
            assert!(err.contains("chmod 600"), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, "abc\n").unwrap();
        assert!(storage_key(&path).unwrap_err().contains("64 hex digits"));
    }

    #[test]
    fn prompts_name_the_secret() {
        assert_eq!(capitalised("the key's PIN"), "The key's PIN");
    }
}
