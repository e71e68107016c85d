//! A key task's lifecycle: queued `pending`, then ended once by the key-bridge's report
//! (`applied` or `failed`) or by the server (`cancelled`, when the key is withdrawn). The store
//! ends a task only while it is pending, so a repeated report changes nothing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Pending,
    Applied,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    /// The key-bridge reports the key did it.
    Applied,
    /// The key-bridge reports the key could not.
    Failed,
    /// The server takes it back (the key was withdrawn, lost or is being wiped).
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "applied" => Self::Applied,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// The transition table.
    pub fn next(self, end: TaskEnd) -> Option<Self> {
        match (self, end) {
            (Self::Pending, TaskEnd::Applied) => Some(Self::Applied),
            (Self::Pending, TaskEnd::Failed) => Some(Self::Failed),
            (Self::Pending, TaskEnd::Cancelled) => Some(Self::Cancelled),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_ends_once() {
        use TaskState::*;
        let mut arrows = Vec::new();
        for s in [Pending, Applied, Failed, Cancelled] {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
            for e in [TaskEnd::Applied, TaskEnd::Failed, TaskEnd::Cancelled] {
                if let Some(to) = s.next(e) {
                    arrows.push((s, e, to));
                }
            }
        }
        assert_eq!(
            arrows,
            vec![
                (Pending, TaskEnd::Applied, Applied),
                (Pending, TaskEnd::Failed, Failed),
                (Pending, TaskEnd::Cancelled, Cancelled),
            ]
        );
    }
}
