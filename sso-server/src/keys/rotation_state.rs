//! A password rotation's lifecycle, in one place: which step moves a rotation from which state to
//! which (see `rotation.rs` for the order that keeps the employee signed in). The store moves a
//! row only from the state it was read in, so two instances never both take a step.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationState {
    /// The new password is queued for the key (as `<name>+next`, or in place for key-only).
    AwaitingKey,
    /// The key holds it; AD is being (or will be again) asked to take it.
    SettingDirectory,
    /// AD has it; the key is asked to promote it to current.
    Committing,
    Done,
    Failed,
}

/// What happened, as the rotation service sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The key stored the new password (`key_only`: an employee's own change, no AD step).
    KeyStored {
        key_only: bool,
    },
    /// The key could not store it.
    KeyFailed,
    DirectorySet,
    /// AD refused the password (policy): the key discards it.
    DirectoryRefused,
    /// No DC answered: stays, to be retried.
    DirectoryUnavailable,
    /// The key promoted the new password to current.
    Promoted,
    /// The key was withdrawn or lost: its open rotations end.
    Cancelled,
}

impl RotationState {
    /// The states of a rotation that is not finished.
    pub const OPEN: [Self; 3] = [Self::AwaitingKey, Self::SettingDirectory, Self::Committing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingKey => "awaiting_key",
            Self::SettingDirectory => "setting_directory",
            Self::Committing => "committing",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "awaiting_key" => Self::AwaitingKey,
            "setting_directory" => Self::SettingDirectory,
            "committing" => Self::Committing,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Whether the sealed new password is still needed: only until AD has it.
    pub fn keeps_password(self) -> bool {
        matches!(self, Self::AwaitingKey | Self::SettingDirectory)
    }

    /// The transition table: the state `step` leads to, or `None` if it does not apply here.
    pub fn next(self, step: Step) -> Option<Self> {
        use RotationState::*;
        Some(match (self, step) {
            (AwaitingKey, Step::KeyStored { key_only: true }) => Done,
            (AwaitingKey, Step::KeyStored { key_only: false }) => SettingDirectory,
            (AwaitingKey, Step::KeyFailed) => Failed,
            (SettingDirectory, Step::DirectorySet) => Committing,
            (SettingDirectory, Step::DirectoryRefused) => Failed,
            (SettingDirectory, Step::DirectoryUnavailable) => SettingDirectory,
            (Committing, Step::Promoted) => Done,
            (AwaitingKey | SettingDirectory | Committing, Step::Cancelled) => Failed,
            _ => return None,
        })
    }

    /// `'a', 'b'` for SQL: the states given, as literals (they are our own constants).
    pub fn sql_list(states: &[Self]) -> String {
        states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [RotationState; 5] = [
        RotationState::AwaitingKey,
        RotationState::SettingDirectory,
        RotationState::Committing,
        RotationState::Done,
        RotationState::Failed,
    ];
    const STEPS: [Step; 8] = [
        Step::KeyStored { key_only: true },
        Step::KeyStored { key_only: false },
        Step::KeyFailed,
        Step::DirectorySet,
        Step::DirectoryRefused,
        Step::DirectoryUnavailable,
        Step::Promoted,
        Step::Cancelled,
    ];

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(RotationState::parse(s.as_str()), Some(s));
        }
        assert_eq!(RotationState::parse("running"), None);
    }

    /// The whole table: every (state, step) pair, so a new arrow is a deliberate change here.
    #[test]
    fn the_transition_table() {
        use RotationState::*;
        let mut arrows = Vec::new();
        for s in ALL {
            for step in STEPS {
                if let Some(to) = s.next(step) {
                    arrows.push((s, step, to));
                }
            }
        }
        assert_eq!(
            arrows,
            vec![
                (AwaitingKey, Step::KeyStored { key_only: true }, Done),
                (
                    AwaitingKey,
                    Step::KeyStored { key_only: false },
                    SettingDirectory
                ),
                (AwaitingKey, Step::KeyFailed, Failed),
                (AwaitingKey, Step::Cancelled, Failed),
                (SettingDirectory, Step::DirectorySet, Committing),
                (SettingDirectory, Step::DirectoryRefused, Failed),
                (
                    SettingDirectory,
                    Step::DirectoryUnavailable,
                    SettingDirectory
                ),
                (SettingDirectory, Step::Cancelled, Failed),
                (Committing, Step::Promoted, Done),
                (Committing, Step::Cancelled, Failed),
            ]
        );
        // Finished rotations never move again, and leave no password behind.
        for s in [Done, Failed] {
            assert!(STEPS.iter().all(|step| s.next(*step).is_none()));
            assert!(!s.keeps_password() && !RotationState::OPEN.contains(&s));
        }
        assert!(
            !Committing.keeps_password(),
            "AD has it: the sealed copy goes"
        );
    }
}
