//! Domain passwords the server generates (or accepts from an admin) for accounts whose password
//! lives on a hardware key: long, from the OS CSPRNG, meeting AD's complexity rule (three of the
//! four character classes, not containing the account name or a part of the full name), and
//! free of characters that are hard to tell apart or type on other keyboard layouts.

use crate::crypto::random_below;
use crate::error::{Error, Result};

pub const DEFAULT_LENGTH: usize = crate::config::DEFAULT_PASSWORD_LENGTH;
pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
// No quotes, backslash, space, `|`, `` ` ``, or characters that move on common layouts (`@`
// sits elsewhere on German and French keyboards, `#`, `^`, `~` are dead keys on some).
const SYMBOLS: &[u8] = b"!$%&*+-=?_.,:;";

fn pick(set: &[u8]) -> Result<u8> {
    // `set` lengths are small constants, so the cast cannot truncate.
    Ok(set[random_below(set.len() as u32)? as usize])
}

/// Parts of the account's names AD forbids inside its password (tokens of 3+ characters).
fn forbidden_parts(account: &str, full_name: &str) -> Vec<String> {
    let mut parts = vec![account.to_lowercase()];
    parts.extend(
        full_name
            .split(|c: char| ",.-_ #\t".contains(c))
            .filter(|t| t.chars().count() >= 3)
            .map(str::to_lowercase),
    );
    parts.retain(|p| p.chars().count() >= 3);
    parts
}

fn contains_name(password: &str, account: &str, full_name: &str) -> bool {
    let lower = password.to_lowercase();
    forbidden_parts(account, full_name)
        .iter()
        .any(|p| lower.contains(p.as_str()))
}

/// A new password of `length` characters with every class present.
pub fn generate(length: usize, account: &str, full_name: &str) -> Result<String> {
    let length = length.clamp(MIN_LENGTH, MAX_LENGTH);
    let all: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS].concat();
    loop {
        let mut chars: Vec<u8> = vec![pick(UPPER)?, pick(LOWER)?, pick(DIGITS)?, pick(SYMBOLS)?];
        while chars.len() < length {
            chars.push(pick(&all)?);
        }
        // Fisher-Yates, so the guaranteed classes are not always in front.
        for i in (1..chars.len()).rev() {
            let j = random_below(u32::try_from(i + 1).unwrap_or(u32::MAX))? as usize;
            chars.swap(i, j);
        }
        let password: String = chars.into_iter().map(char::from).collect();
        if !contains_name(&password, account, full_name) {
            return Ok(password);
        }
    }
}

/// Checks a password an admin typed ("set this password") against the same rules, naming the
/// field. The directory may still refuse it by its own policy.
pub fn check(password: &str, account: &str, full_name: &str) -> Result<()> {
    let bad = |m: &str| Err(Error::validation("password", m));
    let n = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&n) {
        return bad(&format!("must be {MIN_LENGTH} to {MAX_LENGTH} characters"));
    }
    if password.chars().any(char::is_control) {
        return bad("must not hold control characters");
    }
    let classes = [
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if classes < 3 {
        return bad("must mix at least three of: upper case, lower case, digits, symbols");
    }
    if contains_name(password, account, full_name) {
        return bad("must not contain the account name or a part of the person's name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_meet_the_rules() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let p = generate(DEFAULT_LENGTH, "ada", "Ada Lovelace").unwrap();
            assert_eq!(p.len(), DEFAULT_LENGTH);
            assert!(p.bytes().any(|b| UPPER.contains(&b)));
            assert!(p.bytes().any(|b| LOWER.contains(&b)));
            assert!(p.bytes().any(|b| DIGITS.contains(&b)));
            assert!(p.bytes().any(|b| SYMBOLS.contains(&b)));
            assert!(!p.contains(['0', 'O', 'o', '1', 'l', 'I', '"', '\'', '\\', ' ', '|', '`']));
            assert!(!p.to_lowercase().contains("ada"));
            check(&p, "ada", "Ada Lovelace").unwrap();
            assert!(seen.insert(p), "no repeats");
        }
        assert_eq!(generate(4, "x", "").unwrap().len(), MIN_LENGTH);
    }

    #[test]
    fn typed_passwords_are_checked_naming_the_field() {
        for (p, why) in [
            ("Short1!", "12 to 128"),
            ("alllowercaseletters", "three of"),
            ("Lovelace-Rules-2026", "account name"),
            ("xxADAxx-Rules-2026", "account name"),
        ] {
            let e = check(p, "ada", "Ada Lovelace").unwrap_err();
            assert!(e.to_string().starts_with("password: "), "{e}");
            assert!(e.to_string().contains(why), "{p}: {e}");
        }
        check("Correct-Horse-42", "ada", "Ada Lovelace").unwrap();
    }
}
