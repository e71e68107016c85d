//! A sync run's lifecycle: a run starts `running` and ends once, in one of three states. The
//! store finishes a run only while it is still `running`, so an instance that lost its lease
//! cannot overwrite the outcome another recorded (or the "interrupted" a restart recorded).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Succeeded,
    /// An error, or the process running it died ("interrupted").
    Failed,
    /// The removal guard held the changes back; nothing was applied.
    Refused,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Refused,
    Failed,
    Interrupted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "refused" => Self::Refused,
            _ => return None,
        })
    }

    /// The transition table: where `outcome` takes a run in this state (`None`: it is over).
    pub fn next(self, outcome: Outcome) -> Option<Self> {
        match (self, outcome) {
            (Self::Running, Outcome::Applied) => Some(Self::Succeeded),
            (Self::Running, Outcome::Refused) => Some(Self::Refused),
            (Self::Running, Outcome::Failed | Outcome::Interrupted) => Some(Self::Failed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_table() {
        let all = [
            RunState::Running,
            RunState::Succeeded,
            RunState::Failed,
            RunState::Refused,
        ];
        let outcomes = [
            Outcome::Applied,
            Outcome::Refused,
            Outcome::Failed,
            Outcome::Interrupted,
        ];
        let mut arrows = Vec::new();
        for s in all {
            assert_eq!(RunState::parse(s.as_str()), Some(s));
            for o in outcomes {
                if let Some(to) = s.next(o) {
                    arrows.push((s, o, to));
                }
            }
        }
        assert_eq!(
            arrows,
            vec![
                (RunState::Running, Outcome::Applied, RunState::Succeeded),
                (RunState::Running, Outcome::Refused, RunState::Refused),
                (RunState::Running, Outcome::Failed, RunState::Failed),
                (RunState::Running, Outcome::Interrupted, RunState::Failed),
            ],
            "a run ends once and never moves again"
        );
    }
}
