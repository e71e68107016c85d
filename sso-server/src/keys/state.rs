//! The key lifecycle, in one place: which action moves a key from which state to which. Every
//! state change of a key goes through [`next`]; an invalid one is a 409 naming the current state
//! and the action.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// In stock, wiped, assignable.
    Ready,
    /// Assigned to an employee, waiting for activation with the code.
    Reserved,
    Active,
    /// Too many wrong activation codes.
    Locked,
    Suspended,
    /// Withdrawn from the employee (or the employee left); to be wiped.
    Deactivated,
    /// Lost, stolen or broken.
    Compromised,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Reserved => "reserved",
            Self::Active => "active",
            Self::Locked => "locked",
            Self::Suspended => "suspended",
            Self::Deactivated => "deactivated",
            Self::Compromised => "compromised",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ready" => Self::Ready,
            "reserved" => Self::Reserved,
            "active" => Self::Active,
            "locked" => Self::Locked,
            "suspended" => Self::Suspended,
            "deactivated" => Self::Deactivated,
            "compromised" => Self::Compromised,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Assign,
    Activate,
    /// The last wrong activation code.
    LockOut,
    Suspend,
    Resume,
    MarkCompromised,
    Withdraw,
    /// The key-bridge confirmed the wipe: back in stock.
    Wiped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assign => "assign",
            Self::Activate => "activate",
            Self::LockOut => "lock",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::MarkCompromised => "mark compromised",
            Self::Withdraw => "withdraw",
            Self::Wiped => "wipe",
        }
    }
}

/// The state `action` leads to from `from`, or the 409 that explains why not.
pub fn next(from: KeyState, action: Action) -> Result<KeyState, Error> {
    use Action::*;
    use KeyState::*;
    let to = match (from, action) {
        (Ready, Assign) => Reserved,
        (Reserved, Activate) => Active,
        (Reserved, LockOut) => Locked,
        (Active, Suspend) => Suspended,
        (Suspended, Resume) => Active,
        (Reserved | Active | Locked | Suspended | Deactivated, MarkCompromised) => Compromised,
        (Reserved | Active | Locked | Suspended, Withdraw) => Deactivated,
        (Locked | Deactivated | Compromised, Wiped) => Ready,
        _ => {
            return Err(Error::conflict(
                Some("state"),
                format!("cannot {} a key that is {}", action.as_str(), from.as_str()),
            ))
        }
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [KeyState; 7] = [
        KeyState::Ready,
        KeyState::Reserved,
        KeyState::Active,
        KeyState::Locked,
        KeyState::Suspended,
        KeyState::Deactivated,
        KeyState::Compromised,
    ];

    #[test]
    fn the_lifecycle() {
        let mut s = KeyState::Ready;
        for (a, want) in [
            (Action::Assign, KeyState::Reserved),
            (Action::Activate, KeyState::Active),
            (Action::Suspend, KeyState::Suspended),
            (Action::Resume, KeyState::Active),
            (Action::Withdraw, KeyState::Deactivated),
            (Action::Wiped, KeyState::Ready),
        ] {
            s = next(s, a).unwrap();
            assert_eq!(s, want);
        }
        assert_eq!(
            next(KeyState::Reserved, Action::LockOut).unwrap(),
            KeyState::Locked
        );
        assert_eq!(
            next(KeyState::Locked, Action::Wiped).unwrap(),
            KeyState::Ready
        );
    }

    #[test]
    fn invalid_moves_name_the_state_and_the_action() {
        let e = next(KeyState::Ready, Action::Activate).unwrap_err();
        assert_eq!(e.to_string(), "cannot activate a key that is ready");
        let e = next(KeyState::Compromised, Action::Assign).unwrap_err();
        assert!(e
            .to_string()
            .contains("cannot assign a key that is compromised"));
        // Only a ready key can be assigned; only a reserved one activated.
        for s in ALL {
            assert_eq!(
                next(s, Action::Assign).is_ok(),
                s == KeyState::Ready,
                "{s:?}"
            );
            assert_eq!(
                next(s, Action::Activate).is_ok(),
                s == KeyState::Reserved,
                "{s:?}"
            );
            assert_eq!(KeyState::parse(s.as_str()), Some(s));
        }
        assert!(next(KeyState::Ready, Action::MarkCompromised).is_err());
        assert!(
            next(KeyState::Active, Action::Wiped).is_err(),
            "withdraw first"
        );
    }
}
