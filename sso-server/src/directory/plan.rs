//! What a run changes, computed in memory from what the directory returned and what the
//! database holds. Pure: no I/O, so a dry run is the same computation without the apply, and the
//! rules are unit-tested without a DC.
//!
//! Rules (DESIGN.md, Directory sync): objectGUID is the stable key; a new account joins the
//! employee with the same e-mail (case-insensitive): an imported one (merge across domains, or an
//! account re-created with a new GUID) or a manual one (takeover); with no e-mail, a manual
//! employee with the same full name is taken over when exactly one matches. Accounts that left the
//! group are kept, marked out of scope; an employee with no active account left stops being
//! active. One bad object is reported and skipped; it never aborts the run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use super::report::{Change, ChangeKind, RunReport};
use super::user::{is_disabled, DirUser};
use crate::directory::store::IdentityRow;
use crate::employees::store::EmployeeRow;
use crate::employees::{Source, State};

pub struct PlanInput<'a> {
    pub domain_id: &'a str,
    pub now_ms: i64,
    /// Accounts read in this run: every member (full run) or the changed and new ones (delta).
    pub fetched: Vec<DirUser>,
    /// Every member of the sync group now (nested groups included).
    pub members: HashSet<Uuid>,
    /// Every identity of every domain.
    pub identities: Vec<IdentityRow>,
    /// Every employee.
    pub employees: Vec<EmployeeRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    pub employee_id: String,
    pub display_name: String,
    pub matched_by: &'static str,
    pub object_guid: String,
    pub dn: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub new_employees: Vec<EmployeeRow>,
    pub changed_employees: Vec<EmployeeRow>,
    pub identity_writes: Vec<IdentityRow>,
    /// Employees that stopped being active: their keys, devices and sessions are revoked.
    pub deactivated: Vec<String>,
    pub takeovers: Vec<Takeover>,
    pub report: RunReport,
    /// Active employees with an account in this domain's group before the run (the base of the
    /// removal guard).
    pub synced_before: u64,
    /// Accounts of this domain that are missing from the group now (left it, or deleted) and
    /// whose employee stops being active because of it: what the removal guard weighs. Accounts
    /// the directory returned disabled or expired are a positive fact and never here.
    pub missing: Vec<Missing>,
}

/// An account missing from the sync group, and its employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub employee_id: String,
    pub object_guid: Uuid,
    /// The account's DN when it was last seen.
    pub dn: String,
}

impl Plan {
    /// The employees the missing accounts would remove.
    pub fn missing_employees(&self) -> BTreeSet<&str> {
        self.missing
            .iter()
            .map(|m| m.employee_id.as_str())
            .collect()
    }

    /// The removals a refused run holds: one line per missing account, with its DN.
    pub fn held(&self) -> Vec<Change> {
        let names: HashMap<&str, &str> = self
            .report
            .changes
            .iter()
            .map(|c| (c.employee_id.as_str(), c.display_name.as_str()))
            .collect();
        self.missing
            .iter()
            .map(|m| Change {
                kind: ChangeKind::Removed,
                employee_id: m.employee_id.clone(),
                display_name: names
                    .get(m.employee_id.as_str())
                    .map(|n| (*n).to_owned())
                    .unwrap_or_default(),
                object_guid: Some(m.object_guid.to_string()),
                dn: Some(m.dn.clone()),
                fields: vec!["missing from the sync group".into()],
            })
            .collect()
    }
}

/// The removal guard's limits for one domain.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    /// Refuse above this share (percent) of the domain's synced employees...
    pub percent: u64,
    /// ...and above this many (0: no floor).
    pub count: u64,
}

/// What the removal guard says about a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    Pass,
    /// The read found no member at all while the domain has synced employees: a failed or
    /// empty search looks exactly like this, so nothing is applied.
    EmptyRead,
    /// More missing accounts than both limits allow: a mass removal.
    MassRemoval {
        missing: u64,
    },
}

/// The removal guard (pure): ordinary leavers pass; a mass removal or an empty read does not.
pub fn guard(plan: &Plan, limits: GuardLimits) -> Guard {
    if plan.report.members == 0 && plan.synced_before > 0 {
        return Guard::EmptyRead;
    }
    let missing = plan.missing_employees().len() as u64;
    let share = plan.synced_before > 0 && missing * 100 > limits.percent * plan.synced_before;
    let floor = limits.count == 0 || missing > limits.count;
    if missing > 0 && share && floor {
        Guard::MassRemoval { missing }
    } else {
        Guard::Pass
    }
}

type Key = (String, String);

struct Work<'a> {
    domain_id: &'a str,
    now_ms: i64,
    employees: HashMap<String, EmployeeRow>,
    identities: HashMap<Key, IdentityRow>,
    by_employee: HashMap<String, BTreeSet<Key>>,
    email_index: HashMap<String, String>,
    /// Employees touched in this run and the strongest reason (set once for new/merged/taken).
    outcome: HashMap<String, (ChangeKind, Option<String>, Option<String>)>,
    updated_fields: HashMap<String, BTreeSet<String>>,
    new_ids: HashSet<String>,
    errored: HashSet<Uuid>,
    report: RunReport,
    takeovers: Vec<Takeover>,
}

fn norm(email: Option<&str>) -> Option<String> {
    email.map(str::to_lowercase)
}

fn display_name_of(u: &DirUser) -> String {
    if let Some(d) = &u.display_name {
        return d.clone();
    }
    let full = [u.given_name.as_deref(), u.family_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !full.is_empty() {
        return full;
    }
    u.sam_account_name
        .clone()
        .or_else(|| u.upn.clone())
        .unwrap_or_else(|| u.guid.to_string())
}

fn identity_row(
    domain_id: &str,
    u: &DirUser,
    employee_id: &str,
    in_scope: bool,
    created_at: i64,
    now_ms: i64,
) -> IdentityRow {
    IdentityRow {
        domain_id: domain_id.to_owned(),
        object_guid: u.guid.to_string(),
        employee_id: employee_id.to_owned(),
        dn: u.dn.clone(),
        sam_account_name: u.sam_account_name.clone(),
        upn: u.upn.clone(),
        given_name: u.given_name.clone(),
        family_name: u.family_name.clone(),
        display_name: Some(display_name_of(u)),
        email: u.email.clone(),
        phone: u.phone.clone(),
        department: u.department.clone(),
        title: u.title.clone(),
        user_account_control: u.user_account_control,
        account_expires: u.account_expires,
        lockout_time: u.lockout_time,
        pwd_last_set: u.pwd_last_set,
        usn_changed: u.usn_changed,
        when_changed: u.when_changed.clone(),
        in_scope: i64::from(in_scope),
        created_at,
        updated_at: now_ms,
    }
}

fn identity_disabled(i: &IdentityRow, now_ms: i64) -> bool {
    is_disabled(i.user_account_control, i.account_expires, now_ms)
}

/// The profile fields that count as a change, by name. Bookkeeping attributes (uSNChanged,
/// whenChanged, pwdLastSet, lockoutTime, other userAccountControl bits) are stored but are not
/// changes: a logon bumps uSNChanged and must not show up as an update.
fn profile_diff(a: &IdentityRow, b: &IdentityRow, now_ms: i64) -> Vec<&'static str> {
    let mut out = Vec::new();
    let pairs: [(&'static str, &Option<String>, &Option<String>); 9] = [
        ("sAMAccountName", &a.sam_account_name, &b.sam_account_name),
        ("userPrincipalName", &a.upn, &b.upn),
        ("givenName", &a.given_name, &b.given_name),
        ("sn", &a.family_name, &b.family_name),
        ("displayName", &a.display_name, &b.display_name),
        ("mail", &a.email, &b.email),
        ("telephoneNumber", &a.phone, &b.phone),
        ("department", &a.department, &b.department),
        ("title", &a.title, &b.title),
    ];
    if a.dn != b.dn {
        out.push("dn");
    }
    for (name, x, y) in pairs {
        if x != y {
            out.push(name);
        }
    }
    if identity_disabled(a, now_ms) != identity_disabled(b, now_ms) {
        out.push("enabled");
    }
    if a.in_scope != b.in_scope {
        out.push("in_scope");
    }
    out
}

/// Any stored column differs (what decides whether the row is written).
fn row_differs(a: &IdentityRow, b: &IdentityRow) -> bool {
    let mut b2 = b.clone();
    b2.updated_at = a.updated_at;
    a != &b2
}

impl Work<'_> {
    fn key(&self, guid: &Uuid) -> Key {
        (self.domain_id.to_owned(), guid.to_string())
    }

    fn mark(
        &mut self,
        employee_id: &str,
        kind: ChangeKind,
        guid: Option<String>,
        dn: Option<String>,
    ) {
        self.outcome
            .entry(employee_id.to_owned())
            .or_insert((kind, guid, dn));
    }

    fn touch(&mut self, employee_id: &str, fields: &[&'static str]) {
        let set = self
            .updated_fields
            .entry(employee_id.to_owned())
            .or_default();
        set.extend(fields.iter().map(|f| (*f).to_owned()));
    }

    fn attach(&mut self, row: IdentityRow) {
        let key = (row.domain_id.clone(), row.object_guid.clone());
        self.by_employee
            .entry(row.employee_id.clone())
            .or_default()
            .insert(key.clone());
        self.identities.insert(key, row);
    }

    fn fail(&mut self, u: &DirUser, message: String) {
        self.errored.insert(u.guid);
        self.report
            .error(Some(&u.dn), Some(u.guid.to_string()), message);
    }

    /// Does the employee have another account of this domain in the group (a clash)?
    fn has_other_member_here(&self, employee_id: &str, guid: &str) -> bool {
        self.by_employee.get(employee_id).is_some_and(|keys| {
            keys.iter().any(|k| {
                k.0 == self.domain_id
                    && k.1 != guid
                    && self.identities.get(k).is_some_and(|i| i.in_scope == 1)
            })
        })
    }

    fn update_existing(&mut self, u: &DirUser, in_scope: bool) {
        let key = self.key(&u.guid);
        let Some(old) = self.identities.get(&key).cloned() else {
            return;
        };
        let new = identity_row(
            self.domain_id,
            u,
            &old.employee_id,
            in_scope,
            old.created_at,
            self.now_ms,
        );
        if let Some(email) = norm(new.email.as_deref()) {
            if norm(old.email.as_deref()).as_deref() != Some(email.as_str()) {
                match self.email_index.get(&email) {
                    Some(holder) if holder != &old.employee_id => {
                        let who = self
                            .employees
                            .get(holder)
                            .map(|e| e.display_name.clone())
                            .unwrap_or_default();
                        self.fail(
                            u,
                            format!(
                                "the new e-mail address {} is already used by another employee \
                                 ({who}); the account was not updated",
                                new.email.as_deref().unwrap_or_default()
                            ),
                        );
                        return;
                    }
                    Some(_) => {}
                    None => {
                        self.email_index.insert(email, old.employee_id.clone());
                    }
                }
            }
        }
        let diff = profile_diff(&old, &new, self.now_ms);
        if !diff.is_empty() {
            self.touch(&old.employee_id, &diff);
        }
        if row_differs(&old, &new) {
            self.attach(new);
        }
    }

    fn add_new(&mut self, u: &DirUser) {
        let guid = u.guid.to_string();
        let email = norm(u.email.as_deref());
        let target: Option<(String, ChangeKind, &'static str)> = match &email {
            Some(email) => match self.email_index.get(email).cloned() {
                Some(eid) => {
                    let source = self.employees.get(&eid).map(|e| e.source.clone());
                    if source.as_deref() == Some(Source::Manual.as_str()) {
                        Some((eid, ChangeKind::TakenOver, "email"))
                    } else if self.has_other_member_here(&eid, &guid) {
                        let who = self
                            .employees
                            .get(&eid)
                            .map(|e| e.display_name.clone())
                            .unwrap_or_default();
                        self.fail(
                            u,
                            format!(
                                "another account of this domain in the sync group has the same \
                                 e-mail address ({who}); the two cannot be merged, so this one \
                                 was skipped"
                            ),
                        );
                        return;
                    } else {
                        Some((eid, ChangeKind::Merged, "email"))
                    }
                }
                None => None,
            },
            None => self
                .manual_by_full_name(u)
                .map(|eid| (eid, ChangeKind::TakenOver, "full name")),
        };
        match target {
            Some((eid, kind, matched_by)) => {
                if kind == ChangeKind::TakenOver {
                    if let Some(e) = self.employees.get_mut(&eid) {
                        e.source = Source::Directory.as_str().to_owned();
                        self.takeovers.push(Takeover {
                            employee_id: eid.clone(),
                            display_name: e.display_name.clone(),
                            matched_by,
                            object_guid: guid.clone(),
                            dn: u.dn.clone(),
                        });
                    }
                }
                self.mark(&eid, kind, Some(guid), Some(u.dn.clone()));
                let row = identity_row(self.domain_id, u, &eid, true, self.now_ms, self.now_ms);
                self.attach(row);
            }
            None => {
                let id = Uuid::new_v4().to_string();
                let row = EmployeeRow {
                    id: id.clone(),
                    given_name: None,
                    family_name: None,
                    display_name: display_name_of(u),
                    email: None,
                    phone: None,
                    department: None,
                    title: None,
                    source: Source::Directory.as_str().to_owned(),
                    state: State::Active.as_str().to_owned(),
                    created_at: self.now_ms,
                    updated_at: self.now_ms,
                };
                self.employees.insert(id.clone(), row);
                if let Some(email) = email {
                    self.email_index.insert(email, id.clone());
                }
                self.new_ids.insert(id.clone());
                self.flag_same_name(&id, u);
                self.mark(&id, ChangeKind::Added, Some(guid), Some(u.dn.clone()));
                let row = identity_row(self.domain_id, u, &id, true, self.now_ms, self.now_ms);
                self.attach(row);
            }
        }
    }

    /// A new employee named like a manual one that was not taken over (it has another e-mail, or
    /// several match): a possible duplicate, said in the report against the new employee. Nothing
    /// is merged by name; the admin decides.
    fn flag_same_name(&mut self, new_id: &str, u: &DirUser) {
        let Some(new) = self.employees.get(new_id) else {
            return;
        };
        let name = new.display_name.to_lowercase();
        let mut same: Vec<&EmployeeRow> = self
            .employees
            .values()
            .filter(|e| {
                e.source == Source::Manual.as_str() && e.display_name.to_lowercase() == name
            })
            .collect();
        if same.is_empty() {
            return;
        }
        same.sort_by(|a, b| a.id.cmp(&b.id));
        let others = same
            .iter()
            .map(|e| match &e.email {
                Some(m) => format!("{} ({m})", e.display_name),
                None => e.display_name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let note = crate::directory::report::PersonNote {
            employee_id: new_id.to_owned(),
            display_name: new.display_name.clone(),
            dn: Some(u.dn.clone()),
            message: format!(
                "possible duplicate: a manual employee has the same name ({others}); not merged"
            ),
        };
        self.report.notes.push(note);
    }

    /// A manual employee without e-mail whose given and family names match, when exactly one does.
    fn manual_by_full_name(&self, u: &DirUser) -> Option<String> {
        let (Some(g), Some(f)) = (&u.given_name, &u.family_name) else {
            return None;
        };
        let (g, f) = (g.to_lowercase(), f.to_lowercase());
        let mut found = self.employees.values().filter(|e| {
            e.source == Source::Manual.as_str()
                && e.email.is_none()
                && e.given_name.as_deref().map(str::to_lowercase).as_deref() == Some(g.as_str())
                && e.family_name.as_deref().map(str::to_lowercase).as_deref() == Some(f.as_str())
        });
        let first = found.next()?;
        found.next().is_none().then(|| first.id.clone())
    }

    /// The employee's fields and state from its accounts ([`precedence`]).
    fn derive(&self, employee_id: &str, current: &EmployeeRow) -> EmployeeRow {
        let mut ids: Vec<&IdentityRow> = self
            .by_employee
            .get(employee_id)
            .map(|keys| keys.iter().filter_map(|k| self.identities.get(k)).collect())
            .unwrap_or_default();
        let now = self.now_ms;
        let rank = |i: &IdentityRow| rank(i, now);
        precedence(&mut ids, now);
        let state = match ids.first().map(|i| rank(i)) {
            Some(0) => State::Active,
            Some(1) => State::Disabled,
            _ => State::RemovedFromSync,
        };
        let pick = |f: fn(&IdentityRow) -> &Option<String>| ids.iter().find_map(|i| f(i).clone());
        let mut row = current.clone();
        if let Some(primary) = ids.first() {
            row.given_name = pick(|i| &i.given_name);
            row.family_name = pick(|i| &i.family_name);
            row.display_name = primary
                .display_name
                .clone()
                .unwrap_or_else(|| current.display_name.clone());
            row.email = pick(|i| &i.email);
            row.phone = pick(|i| &i.phone);
            row.department = pick(|i| &i.department);
            row.title = pick(|i| &i.title);
        }
        row.state = state.as_str().to_owned();
        row
    }
}

/// 0: in the sync group and enabled; 1: in the group but disabled or expired; 2: out of it.
fn rank(i: &IdentityRow, now_ms: i64) -> u8 {
    match (i.in_scope == 1, identity_disabled(i, now_ms)) {
        (true, false) => 0,
        (true, true) => 1,
        _ => 2,
    }
}

/// Which of an employee's accounts speaks for it, first to last: accounts in a sync group and
/// enabled, then in a group but disabled, then outside any group; within each, the oldest
/// (first imported) first, then by domain id and objectGUID. The first account gives the display
/// name (and the state); every other field comes from the first account, in this order, that
/// has a value. Deterministic whatever order the domains sync in.
pub fn precedence(ids: &mut [&IdentityRow], now_ms: i64) {
    ids.sort_by(|a, b| {
        rank(a, now_ms)
            .cmp(&rank(b, now_ms))
            .then(a.created_at.cmp(&b.created_at))
            .then(a.domain_id.cmp(&b.domain_id))
            .then(a.object_guid.cmp(&b.object_guid))
    });
}

/// Where each of the employee's fields comes from, as [`precedence`] decides: the field's name
/// and the index (into `ids`) of the account that provides it, if any does.
pub fn field_sources(ids: &[IdentityRow], now_ms: i64) -> Vec<(&'static str, Option<usize>)> {
    let mut order: Vec<&IdentityRow> = ids.iter().collect();
    precedence(&mut order, now_ms);
    let index = |i: &IdentityRow| {
        ids.iter()
            .position(|x| x.domain_id == i.domain_id && x.object_guid == i.object_guid)
    };
    let first = |f: fn(&IdentityRow) -> bool| order.iter().find(|i| f(i)).and_then(|i| index(i));
    vec![
        ("display name", order.first().and_then(|i| index(i))),
        ("given name", first(|i| i.given_name.is_some())),
        ("family name", first(|i| i.family_name.is_some())),
        ("e-mail", first(|i| i.email.is_some())),
        ("phone", first(|i| i.phone.is_some())),
        ("department", first(|i| i.department.is_some())),
        ("job title", first(|i| i.title.is_some())),
    ]
}

fn employee_fields_differ(a: &EmployeeRow, b: &EmployeeRow) -> bool {
    let mut b2 = b.clone();
    b2.updated_at = a.updated_at;
    a != &b2
}

pub fn plan(input: PlanInput<'_>) -> Plan {
    let PlanInput {
        domain_id,
        now_ms,
        fetched,
        members,
        identities,
        employees,
    } = input;
    let original_employees: HashMap<String, EmployeeRow> = employees
        .iter()
        .map(|e| (e.id.clone(), e.clone()))
        .collect();
    let original_identities: HashMap<Key, IdentityRow> = identities
        .iter()
        .map(|i| ((i.domain_id.clone(), i.object_guid.clone()), i.clone()))
        .collect();
    let mut w = Work {
        domain_id,
        now_ms,
        email_index: employees
            .iter()
            .filter_map(|e| norm(e.email.as_deref()).map(|m| (m, e.id.clone())))
            .collect(),
        employees: original_employees.clone(),
        identities: HashMap::new(),
        by_employee: HashMap::new(),
        outcome: HashMap::new(),
        updated_fields: HashMap::new(),
        new_ids: HashSet::new(),
        errored: HashSet::new(),
        report: RunReport::default(),
        takeovers: Vec::new(),
    };
    for i in identities {
        w.attach(i);
    }
    let synced_before = {
        let mut set = HashSet::new();
        for i in w.identities.values() {
            if i.domain_id == domain_id && i.in_scope == 1 {
                if let Some(e) = w.employees.get(&i.employee_id) {
                    if e.state == State::Active.as_str() {
                        set.insert(e.id.clone());
                    }
                }
            }
        }
        set.len() as u64
    };

    // Accounts the directory returned disabled or expired: a positive fact, never "missing".
    let returned_disabled: HashSet<Uuid> = fetched
        .iter()
        .filter(|u| is_disabled(u.user_account_control, u.account_expires, now_ms))
        .map(|u| u.guid)
        .collect();

    // 1. Accounts of this domain that left the group.
    let leaving: Vec<Key> = w
        .identities
        .iter()
        .filter(|(k, i)| {
            k.0 == domain_id
                && i.in_scope == 1
                && Uuid::parse_str(&k.1).is_ok_and(|g| !members.contains(&g))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for key in &leaving {
        if let Some(mut row) = w.identities.get(key).cloned() {
            row.in_scope = 0;
            row.updated_at = now_ms;
            let eid = row.employee_id.clone();
            w.attach(row);
            w.touch(&eid, &["in_scope"]);
        }
    }

    // 2. Accounts we know, then 3. new ones, each in a stable order.
    let mut fetched = fetched;
    fetched.sort_by(|a, b| a.dn.cmp(&b.dn).then(a.guid.cmp(&b.guid)));
    let mut seen = HashSet::new();
    let (known, new): (Vec<DirUser>, Vec<DirUser>) = fetched
        .into_iter()
        .filter(|u| seen.insert(u.guid))
        .partition(|u| w.identities.contains_key(&w.key(&u.guid)));
    for u in &known {
        let in_scope = members.contains(&u.guid);
        w.update_existing(u, in_scope);
    }
    for u in new.iter().filter(|u| members.contains(&u.guid)) {
        w.add_new(u);
    }

    // 4. Employees whose accounts changed: derive fields and state, decide the outcome.
    let touched: BTreeSet<String> = w
        .updated_fields
        .keys()
        .chain(w.outcome.keys())
        .cloned()
        .collect();
    let mut plan = Plan {
        synced_before,
        ..Plan::default()
    };
    let mut changed_employees: HashSet<String> = HashSet::new();
    for eid in &touched {
        let Some(current) = w.employees.get(eid) else {
            continue;
        };
        let mut next = w.derive(eid, current);
        let before = original_employees.get(eid);
        let was_active = before.is_some_and(|b| b.state == State::Active.as_str());
        let is_active = next.state == State::Active.as_str();
        let outcome = w.outcome.get(eid).cloned();
        let fields: Vec<String> = w
            .updated_fields
            .get(eid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let (kind, guid, dn) = match outcome {
            Some(o) => o,
            None if was_active && !is_active => {
                let k = if next.state == State::Disabled.as_str() {
                    ChangeKind::Disabled
                } else {
                    ChangeKind::Removed
                };
                (k, None, None)
            }
            None if !was_active && is_active => (ChangeKind::Reactivated, None, None),
            None => (ChangeKind::Updated, None, None),
        };
        if was_active && !is_active {
            plan.deactivated.push(eid.clone());
        }
        let row_changed = match before {
            None => true,
            Some(b) => employee_fields_differ(b, &next),
        };
        // An update that changed nothing visible on the employee or its accounts' profile is
        // not a change (e.g. only bookkeeping attributes moved).
        if kind == ChangeKind::Updated && !row_changed && fields.is_empty() {
            continue;
        }
        if row_changed {
            next.updated_at = now_ms;
            if w.new_ids.contains(eid) {
                plan.new_employees.push(next.clone());
            } else {
                plan.changed_employees.push(next.clone());
            }
        }
        changed_employees.insert(eid.clone());
        w.report.change(Change {
            kind,
            employee_id: eid.clone(),
            display_name: next.display_name.clone(),
            object_guid: guid,
            dn,
            fields,
        });
    }

    // Identity rows to write: new or different from what is stored.
    let mut writes: BTreeMap<Key, IdentityRow> = BTreeMap::new();
    for (k, row) in &w.identities {
        match original_identities.get(k) {
            Some(old) if !row_differs(old, row) => {}
            _ => {
                writes.insert(k.clone(), row.clone());
            }
        }
    }
    plan.identity_writes = writes.into_values().collect();

    let removed: HashSet<&str> = w
        .report
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Removed)
        .map(|c| c.employee_id.as_str())
        .collect();
    plan.missing = leaving
        .iter()
        .filter_map(|(_, g)| {
            let guid = Uuid::parse_str(g).ok()?;
            let i = original_identities.get(&(domain_id.to_owned(), g.clone()))?;
            (removed.contains(i.employee_id.as_str()) && !returned_disabled.contains(&guid)).then(
                || Missing {
                    employee_id: i.employee_id.clone(),
                    object_guid: guid,
                    dn: i.dn.clone(),
                },
            )
        })
        .collect();
    plan.missing.sort_by_key(|m| m.object_guid);

    let mut unchanged = 0;
    for g in &members {
        if w.errored.contains(g) {
            continue;
        }
        if let Some(i) = w.identities.get(&w.key(g)) {
            if !changed_employees.contains(&i.employee_id) {
                unchanged += 1;
            }
        }
    }
    w.report.counts.unchanged = unchanged;
    w.report.members = members.len() as u64;
    plan.takeovers = w.takeovers;
    plan.report = w.report;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn user(n: u8, email: Option<&str>) -> DirUser {
        DirUser {
            guid: Uuid::from_bytes([n; 16]),
            dn: format!("CN=User {n},OU=Staff,DC=corp,DC=test"),
            sam_account_name: Some(format!("user{n}")),
            upn: None,
            given_name: Some(format!("First{n}")),
            family_name: Some(format!("Last{n}")),
            display_name: None,
            email: email.map(str::to_owned),
            phone: None,
            department: None,
            title: None,
            user_account_control: 512,
            account_expires: None,
            lockout_time: None,
            pwd_last_set: None,
            usn_changed: Some(100),
            when_changed: None,
        }
    }

    fn run(domain: &str, users: &[DirUser], db: &(Vec<IdentityRow>, Vec<EmployeeRow>)) -> Plan {
        plan(PlanInput {
            domain_id: domain,
            now_ms: NOW,
            fetched: users.to_vec(),
            members: users.iter().map(|u| u.guid).collect(),
            identities: db.0.clone(),
            employees: db.1.clone(),
        })
    }

    /// Applies a plan to an in-memory "database".
    fn apply(db: &mut (Vec<IdentityRow>, Vec<EmployeeRow>), p: &Plan) {
        for w in &p.identity_writes {
            db.0.retain(|i| !(i.domain_id == w.domain_id && i.object_guid == w.object_guid));
            db.0.push(w.clone());
        }
        for e in p.changed_employees.iter().chain(&p.new_employees) {
            db.1.retain(|x| x.id != e.id);
            db.1.push(e.clone());
        }
    }

    #[test]
    fn import_then_rerun_changes_nothing() {
        let mut db = (Vec::new(), Vec::new());
        let users = [user(1, Some("a@x.test")), user(2, None)];
        let p = run("d1", &users, &db);
        assert_eq!(p.report.counts.added, 2);
        assert_eq!(p.new_employees.len(), 2);
        apply(&mut db, &p);
        let p = run("d1", &users, &db);
        assert_eq!(p.report.changed(), 0, "{:?}", p.report);
        assert_eq!(p.report.counts.unchanged, 2);
        assert!(p.identity_writes.is_empty() && p.changed_employees.is_empty());
    }

    #[test]
    fn logon_bookkeeping_is_not_a_change_but_is_stored() {
        let mut db = (Vec::new(), Vec::new());
        let mut u = user(1, Some("a@x.test"));
        let p0 = run("d1", &[u.clone()], &db);
        apply(&mut db, &p0);
        u.usn_changed = Some(200);
        u.when_changed = Some("20261123184944.0Z".into());
        let p = run("d1", &[u], &db);
        assert_eq!(p.report.changed(), 0);
        assert_eq!(p.identity_writes.len(), 1);
    }

    #[test]
    fn merge_by_email_across_domains_and_removal() {
        let mut db = (Vec::new(), Vec::new());
        let p0 = run("d1", &[user(1, Some("Same@X.test"))], &db);
        apply(&mut db, &p0);
        let p = run(
            "d2",
            &[user(2, Some("same@x.test")), user(3, Some("other@x.test"))],
            &db,
        );
        assert_eq!(p.report.counts.merged, 1);
        assert_eq!(p.report.counts.added, 1);
        apply(&mut db, &p);
        assert_eq!(db.1.len(), 2);
        // Leaving d1's group keeps the employee active through d2.
        let p = run("d1", &[], &db);
        assert_eq!(p.report.counts.removed, 0);
        assert!(p.deactivated.is_empty());
        apply(&mut db, &p);
        // Leaving d2's too: removed.
        let p = run("d2", &[user(3, Some("other@x.test"))], &db);
        assert_eq!(p.report.counts.removed, 1);
        assert_eq!(p.deactivated.len(), 1);
        apply(&mut db, &p);
        assert!(db.1.iter().any(|e| e.state == "removed-from-sync"));
        // Back: reactivated.
        let p = run(
            "d2",
            &[user(2, Some("same@x.test")), user(3, Some("other@x.test"))],
            &db,
        );
        assert_eq!(p.report.counts.reactivated, 1, "{:?}", p.report);
    }

    #[test]
    fn same_email_twice_in_one_domain_is_an_error_not_an_abort() {
        let db = (Vec::new(), Vec::new());
        let p = run(
            "d1",
            &[
                user(1, Some("a@x.test")),
                user(2, Some("A@x.test")),
                user(3, None),
            ],
            &db,
        );
        assert_eq!(p.report.counts.added, 2);
        assert_eq!(p.report.counts.errors, 1);
        assert!(p.report.errors[0].dn.as_deref().unwrap().contains("User 2"));
    }

    #[test]
    fn takeover_by_email_and_by_full_name() {
        let manual = |id: &str, email: Option<&str>, g: &str, f: &str| EmployeeRow {
            id: id.into(),
            given_name: Some(g.into()),
            family_name: Some(f.into()),
            display_name: format!("{g} {f}"),
            email: email.map(str::to_owned),
            phone: Some("+1 555".into()),
            department: None,
            title: None,
            source: "manual".into(),
            state: "active".into(),
            created_at: 1,
            updated_at: 1,
        };
        let db = (
            Vec::new(),
            vec![
                manual("m1", Some("a@x.test"), "Someone", "Else"),
                manual("m2", None, "first2", "LAST2"),
            ],
        );
        let p = run("d1", &[user(1, Some("a@x.test")), user(2, None)], &db);
        assert_eq!(p.report.counts.taken_over, 2, "{:?}", p.report);
        assert_eq!(p.takeovers.len(), 2);
        assert!(p.changed_employees.iter().all(|e| e.source == "directory"));
        assert!(p.new_employees.is_empty());
    }

    #[test]
    fn recreated_account_with_new_guid_stays_one_employee() {
        let mut db = (Vec::new(), Vec::new());
        let p0 = run("d1", &[user(1, Some("a@x.test"))], &db);
        apply(&mut db, &p0);
        let mut again = user(9, Some("a@x.test"));
        again.dn = user(1, None).dn;
        let p = run("d1", &[again], &db);
        assert_eq!(p.report.counts.merged, 1);
        assert_eq!(p.report.counts.removed, 0);
        apply(&mut db, &p);
        assert_eq!(db.1.len(), 1);
        assert_eq!(db.1[0].state, "active");
    }

    #[test]
    fn disabled_counts_as_removed() {
        let mut db = (Vec::new(), Vec::new());
        let mut u = user(1, Some("a@x.test"));
        let p0 = run("d1", &[u.clone()], &db);
        apply(&mut db, &p0);
        u.user_account_control = 514;
        let p = run("d1", &[u.clone()], &db);
        assert_eq!(p.report.counts.removed, 1);
        assert_eq!(p.report.changes[0].kind, ChangeKind::Disabled);
        assert_eq!(p.deactivated.len(), 1);
        apply(&mut db, &p);
        u.user_account_control = 512;
        let p = run("d1", &[u], &db);
        assert_eq!(p.report.counts.reactivated, 1);
    }

    const LIMITS: GuardLimits = GuardLimits {
        percent: 10,
        count: 10,
    };

    fn imported(n: u8) -> ((Vec<IdentityRow>, Vec<EmployeeRow>), Vec<DirUser>) {
        let mut db = (Vec::new(), Vec::new());
        let users: Vec<DirUser> = (1..=n)
            .map(|i| user(i, Some(&format!("u{i}@x.test"))))
            .collect();
        let p = run("d1", &users, &db);
        apply(&mut db, &p);
        (db, users)
    }

    #[test]
    fn a_leaver_in_a_small_domain_passes_the_guard() {
        // 1 of 4 missing is 25%, but not more than the floor of 10 accounts.
        let (db, users) = imported(4);
        let p = run("d1", &users[1..], &db);
        assert_eq!(p.missing_employees().len(), 1);
        assert_eq!(guard(&p, LIMITS), Guard::Pass);
        // Without a floor the share alone decides.
        let no_floor = GuardLimits {
            percent: 10,
            count: 0,
        };
        assert_eq!(guard(&p, no_floor), Guard::MassRemoval { missing: 1 });
    }

    #[test]
    fn disabled_accounts_never_count_toward_the_guard() {
        let (db, mut users) = imported(2);
        users[0].user_account_control = 514;
        let p = run("d1", &users, &db);
        assert_eq!(p.report.counts.removed, 1);
        assert!(p.missing.is_empty(), "{:?}", p.missing);
        let strict = GuardLimits {
            percent: 0,
            count: 0,
        };
        assert_eq!(guard(&p, strict), Guard::Pass);
    }

    #[test]
    fn a_mass_removal_exceeds_both_limits_and_an_empty_read_always_trips() {
        let (db, users) = imported(40);
        // 15 of 40 missing: 37% and more than 10 accounts.
        let p = run("d1", &users[15..], &db);
        assert_eq!(guard(&p, LIMITS), Guard::MassRemoval { missing: 15 });
        let held: HashSet<Uuid> = p.missing.iter().map(|m| m.object_guid).collect();
        assert_eq!(held.len(), 15);
        assert!(users[..15].iter().all(|u| held.contains(&u.guid)));
        // 10 missing: not more than the floor.
        let p = run("d1", &users[10..], &db);
        assert_eq!(guard(&p, LIMITS), Guard::Pass);
        // The group read empty: refused whatever the limits.
        let p = run("d1", &[], &db);
        assert_eq!(guard(&p, LIMITS), Guard::EmptyRead);
        let lax = GuardLimits {
            percent: 100,
            count: 0,
        };
        assert_eq!(guard(&p, lax), Guard::EmptyRead);
    }

    #[test]
    fn the_oldest_active_account_speaks_first_and_others_fill_gaps() {
        let mut db = (Vec::new(), Vec::new());
        let p = run("d2", &[user(1, Some("a@x.test"))], &db);
        apply(&mut db, &p);
        let mut other = user(2, Some("A@x.test"));
        other.phone = Some("+49 30 1234".into());
        other.display_name = Some("Other Name".into());
        // Imported later (created later), in a domain whose id sorts first.
        let later = plan(PlanInput {
            domain_id: "d1",
            now_ms: NOW + 1000,
            fetched: vec![other.clone()],
            members: [other.guid].into_iter().collect(),
            identities: db.0.clone(),
            employees: db.1.clone(),
        });
        apply(&mut db, &later);
        assert_eq!(db.1.len(), 1);
        assert_eq!(
            db.1[0].display_name, "First1 Last1",
            "the first imported wins"
        );
        assert_eq!(db.1[0].phone.as_deref(), Some("+49 30 1234"), "gaps filled");
        let sources = field_sources(&db.0, NOW + 2000);
        let from = |field: &str| {
            sources
                .iter()
                .find(|(f, _)| *f == field)
                .and_then(|(_, i)| *i)
                .map(|i| db.0[i].domain_id.clone())
        };
        assert_eq!(from("display name").as_deref(), Some("d2"));
        assert_eq!(from("phone").as_deref(), Some("d1"));
        assert_eq!(from("department"), None);
    }
}
