//! A push challenge's lifecycle: created `pending`, then answered once by the phone that
//! signs for the employee: `approved` (the right number), `denied` (a denial or a wrong number)
//! or `fraud` (reported). Expiry is derived from the clock, never stored; an approval is good
//! once (the store marks it consumed) and only for the purpose it was asked for.

/// What is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeState {
    Pending,
    Approved,
    Denied,
    Fraud,
}

/// The phone's answer, as the server judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Approved with the number the page shows.
    Approve,
    /// Denied, or approved with another number (whoever holds the phone did not see the page).
    Deny,
    ReportFraud,
}

/// What the party that asked (the sign-in page, a workstation) sees; serialised as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl ChallengeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Fraud => "fraud",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "fraud" => Self::Fraud,
            _ => return None,
        })
    }

    /// The transition table: only a pending challenge takes an answer.
    pub fn next(self, answer: Answer) -> Option<Self> {
        match (self, answer) {
            (Self::Pending, Answer::Approve) => Some(Self::Approved),
            (Self::Pending, Answer::Deny) => Some(Self::Denied),
            (Self::Pending, Answer::ReportFraud) => Some(Self::Fraud),
            _ => None,
        }
    }

    /// What the asker sees. `usable` says whether an approval is still good: not consumed, of
    /// the asked purpose, not expired. An unknown stored state reads as denied.
    pub fn outcome(state: Option<Self>, usable: bool, expired: bool) -> Outcome {
        match state {
            Some(Self::Approved) if usable => Outcome::Approved,
            Some(Self::Approved) => Outcome::Expired,
            Some(Self::Denied | Self::Fraud) | None => Outcome::Denied,
            Some(Self::Pending) if expired => Outcome::Expired,
            Some(Self::Pending) => Outcome::Pending,
        }
    }
}

impl Answer {
    /// Judges the phone's decision against the number the page showed.
    pub fn judge(decision: &str, number: Option<u8>, shown: i64) -> Self {
        match (decision, number) {
            ("approve", Some(n)) if i64::from(n) == shown => Self::Approve,
            ("report_fraud", _) => Self::ReportFraud,
            _ => Self::Deny,
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_answered_once() {
        use ChallengeState::*;
        let mut arrows = Vec::new();
        for s in [Pending, Approved, Denied, Fraud] {
            assert_eq!(ChallengeState::parse(s.as_str()), Some(s));
            for a in [Answer::Approve, Answer::Deny, Answer::ReportFraud] {
                if let Some(to) = s.next(a) {
                    arrows.push((s, a, to));
                }
            }
        }
        assert_eq!(
            arrows,
            vec![
                (Pending, Answer::Approve, Approved),
                (Pending, Answer::Deny, Denied),
                (Pending, Answer::ReportFraud, Fraud),
            ]
        );
        assert_eq!(ChallengeState::parse("approved "), None);
    }

    #[test]
    fn only_the_shown_number_approves() {
        assert_eq!(Answer::judge("approve", Some(42), 42), Answer::Approve);
        assert_eq!(Answer::judge("approve", Some(41), 42), Answer::Deny);
        assert_eq!(Answer::judge("approve", None, 42), Answer::Deny);
        assert_eq!(Answer::judge("deny", Some(42), 42), Answer::Deny);
        assert_eq!(Answer::judge("report_fraud", None, 42), Answer::ReportFraud);
        assert_eq!(Answer::judge("APPROVE", Some(42), 42), Answer::Deny);
    }

    #[test]
    fn the_asker_sees_an_approval_once_and_never_past_expiry() {
        use ChallengeState::*;
        let o = ChallengeState::outcome;
        assert_eq!(o(Some(Approved), true, false), Outcome::Approved);
        // Consumed, another purpose or expired: no longer an approval.
        assert_eq!(o(Some(Approved), false, false), Outcome::Expired);
        assert_eq!(o(Some(Denied), true, false), Outcome::Denied);
        assert_eq!(o(Some(Fraud), true, true), Outcome::Denied);
        assert_eq!(o(Some(Pending), true, false), Outcome::Pending);
        assert_eq!(o(Some(Pending), true, true), Outcome::Expired);
        assert_eq!(o(None, true, false), Outcome::Denied);
    }
}
