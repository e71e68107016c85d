//! An invitation's lifecycle: `pending` until the employee registers (`accepted`) or an admin
//! revokes it or invites again (`revoked`). "Expired" is not stored: it is a pending invitation
//! past its time, which [`Shown`] tells readers apart.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The employee registered a phone or a passkey with it.
    Accept,
    /// An admin revoked it, or invited the employee again.
    Revoke,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }

    /// The transition table.
    pub fn next(self, event: Event) -> Option<Self> {
        match (self, event) {
            (Self::Pending, Event::Accept) => Some(Self::Accepted),
            (Self::Pending, Event::Revoke) => Some(Self::Revoked),
            _ => None,
        }
    }

    /// What an invitation in this state, expiring at `expires_at`, is at `now`.
    pub fn shown(self, expires_at: i64, now: i64) -> Shown {
        match self {
            Self::Pending if expires_at > now => Shown::Usable,
            Self::Pending => Shown::Expired,
            Self::Accepted => Shown::Accepted,
            Self::Revoked => Shown::Revoked,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Usable,
    Expired,
    Accepted,
    Revoked,
}

impl Shown {
    /// As the API and the invitation page's status call name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usable => "pending",
            Self::Expired => "expired",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_table_and_expiry() {
        use InvitationState::*;
        let mut arrows = Vec::new();
        for s in [Pending, Accepted, Revoked] {
            assert_eq!(InvitationState::parse(s.as_str()), Some(s));
            for e in [Event::Accept, Event::Revoke] {
                if let Some(to) = s.next(e) {
                    arrows.push((s, e, to));
                }
            }
        }
        assert_eq!(
            arrows,
            vec![
                (Pending, Event::Accept, Accepted),
                (Pending, Event::Revoke, Revoked),
            ],
            "only a pending invitation moves, once"
        );
        assert_eq!(Pending.shown(10, 9), Shown::Usable);
        assert_eq!(Pending.shown(10, 10), Shown::Expired);
        assert_eq!(Accepted.shown(10, 99).as_str(), "accepted");
    }
}
