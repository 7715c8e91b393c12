//! The rules of a group's membership, apart from SQL: who may add, remove, rename and set roles,
//! who becomes owner when the owner leaves, and the system message each change leaves behind.
//! [`plan`] turns a request and the group as it stands into the rows to write, or a refusal.

use std::collections::HashSet;

use chat_shared::{EventKind, Role, SystemEvent, UserRef};

/// Longest group title, in characters after trimming.
pub const MAX_TITLE_CHARS: usize = 100;

/// A member as the store reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub user: UserRef,
    pub role: Role,
    pub muted: bool,
}

/// A change asked of a group, by one of its members (or, for `Create`, by its future owner).
#[derive(Debug, Clone)]
pub enum GroupOp {
    /// `users`: the other members, each an existing account (the store looks them up).
    Create {
        title: String,
        users: Vec<UserRef>,
    },
    /// `users`: existing accounts; those already in the group are left as they are.
    Add {
        users: Vec<UserRef>,
    },
    Remove {
        user_id: i64,
    },
    Leave,
    Rename {
        title: String,
    },
    SetRole {
        user_id: i64,
        role: Role,
    },
}

/// Why a change is refused; each becomes a `chat.error` with its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `not_found`: no such group, or no such member.
    NotFound(&'static str),
    /// `forbidden`: the caller's role does not allow it.
    Forbidden(&'static str),
    /// `invalid_field`: the request cannot apply to this group.
    Invalid(String),
}

/// What a change writes, in order: members in, members out, roles, title, then the system
/// messages (`event`, `content`), oldest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub insert: Vec<(UserRef, Role)>,
    pub delete: Vec<i64>,
    pub roles: Vec<(i64, Role)>,
    pub title: Option<String>,
    pub events: Vec<(SystemEvent, String)>,
}

impl Plan {
    /// The members after the change, in the order they joined.
    pub fn apply(&self, members: &[MemberRow]) -> Vec<MemberRow> {
        let mut after: Vec<MemberRow> = members
            .iter()
            .filter(|m| !self.delete.contains(&m.user.id))
            .cloned()
            .collect();
        for member in &mut after {
            if let Some(&(_, role)) = self.roles.iter().find(|(id, _)| *id == member.user.id) {
                member.role = role;
            }
        }
        after.extend(self.insert.iter().map(|(user, role)| MemberRow {
            user: user.clone(),
            role: *role,
            muted: false,
        }));
        after
    }
}

/// A title as stored: trimmed, 1 to [`MAX_TITLE_CHARS`] characters, no control characters.
pub fn check_title(title: &str) -> Result<String, Refusal> {
    let title = title.trim();
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS {
        return Err(Refusal::Invalid(format!(
            "`title` must be 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(Refusal::Invalid(
            "`title` must not contain control characters".into(),
        ));
    }
    Ok(title.to_string())
}

fn event(kind: EventKind, user_id: i64, by: &UserRef) -> SystemEvent {
    SystemEvent {
        kind,
        user_id,
        by: by.id,
        role: None,
        title: None,
    }
}

/// The rows `op` by `by` writes to a group whose members are `members` (in the order they
/// joined; empty for `Create`), with at most `max_members` members afterwards.
pub fn plan(
    op: GroupOp,
    by: &UserRef,
    members: &[MemberRow],
    max_members: usize,
) -> Result<Plan, Refusal> {
    let role_of = |id: i64| members.iter().find(|m| m.user.id == id).map(|m| m.role);
    let mut plan = Plan::default();
    if let GroupOp::Create { title, users } = op {
        let title = check_title(&title)?;
        let others = distinct_others(users, by.id);
        if others.len() + 1 > max_members {
            return Err(too_many(max_members));
        }
        let mut created = event(EventKind::Created, by.id, by);
        created.title = Some(title.clone());
        plan.events.push((
            created,
            format!("{} created the group \u{201c}{title}\u{201d}", by.username),
        ));
        plan.insert.push((by.clone(), Role::Owner));
        plan.insert
            .extend(others.into_iter().map(|user| (user, Role::Member)));
        plan.title = Some(title);
        return Ok(plan);
    }
    let mine = role_of(by.id).ok_or(Refusal::NotFound("no such conversation"))?;
    match op {
        GroupOp::Create { .. } => unreachable!("handled above"),
        GroupOp::Add { users } => {
            manager(mine)?;
            let present: HashSet<i64> = members.iter().map(|m| m.user.id).collect();
            let new: Vec<UserRef> = distinct_others(users, by.id)
                .into_iter()
                .filter(|u| !present.contains(&u.id))
                .collect();
            if members.len() + new.len() > max_members {
                return Err(too_many(max_members));
            }
            for user in new {
                plan.events.push((
                    event(EventKind::MemberAdded, user.id, by),
                    format!("{} added {}", by.username, user.username),
                ));
                plan.insert.push((user, Role::Member));
            }
        }
        GroupOp::Remove { user_id } if user_id == by.id => {
            return plan_leave(by, mine, members);
        }
        GroupOp::Remove { user_id } => {
            manager(mine)?;
            let target = members
                .iter()
                .find(|m| m.user.id == user_id)
                .ok_or(Refusal::NotFound("no such member"))?;
            if mine != Role::Owner && target.role != Role::Member {
                return Err(Refusal::Forbidden(
                    "only the owner removes an admin or the owner",
                ));
            }
            plan.delete.push(user_id);
            plan.events.push((
                event(EventKind::MemberRemoved, user_id, by),
                format!("{} removed {}", by.username, target.user.username),
            ));
        }
        GroupOp::Leave => return plan_leave(by, mine, members),
        GroupOp::Rename { title } => {
            manager(mine)?;
            let title = check_title(&title)?;
            let mut renamed = event(EventKind::Renamed, by.id, by);
            renamed.title = Some(title.clone());
            plan.events.push((
                renamed,
                format!(
                    "{} renamed the group to \u{201c}{title}\u{201d}",
                    by.username
                ),
            ));
            plan.title = Some(title);
        }
        GroupOp::SetRole { user_id, role } => {
            if mine != Role::Owner {
                return Err(Refusal::Forbidden("only the owner sets roles"));
            }
            if role == Role::Owner {
                return Err(Refusal::Invalid("`role` must be admin or member".into()));
            }
            if user_id == by.id {
                return Err(Refusal::Invalid("the owner's role cannot change".into()));
            }
            let target = members
                .iter()
                .find(|m| m.user.id == user_id)
                .ok_or(Refusal::NotFound("no such member"))?;
            if target.role != role {
                plan.roles.push((user_id, role));
                let mut changed = event(EventKind::RoleChanged, user_id, by);
                changed.role = Some(role);
                let what = if role == Role::Admin {
                    "an admin"
                } else {
                    "a member"
                };
                plan.events.push((
                    changed,
                    format!("{} made {} {what}", by.username, target.user.username),
                ));
            }
        }
    }
    Ok(plan)
}

/// `by` leaves; an owner leaving hands the group to the longest-standing admin, else member.
fn plan_leave(by: &UserRef, mine: Role, members: &[MemberRow]) -> Result<Plan, Refusal> {
    let mut plan = Plan {
        delete: vec![by.id],
        ..Plan::default()
    };
    plan.events.push((
        event(EventKind::MemberLeft, by.id, by),
        format!("{} left", by.username),
    ));
    if mine == Role::Owner {
        let rest = members.iter().filter(|m| m.user.id != by.id);
        let heir = rest
            .clone()
            .find(|m| m.role == Role::Admin)
            .or_else(|| rest.clone().next());
        if let Some(heir) = heir {
            plan.roles.push((heir.user.id, Role::Owner));
            let mut changed = event(EventKind::RoleChanged, heir.user.id, by);
            changed.role = Some(Role::Owner);
            plan.events
                .push((changed, format!("{} is now the owner", heir.user.username)));
        }
    }
    Ok(plan)
}

fn manager(role: Role) -> Result<(), Refusal> {
    if role.manages() {
        Ok(())
    } else {
        Err(Refusal::Forbidden(
            "only the owner and admins add, remove and rename",
        ))
    }
}

fn too_many(max: usize) -> Refusal {
    Refusal::Invalid(format!("a group has at most {max} members"))
}

/// `users` without repeats and without `me`, in the order given.
fn distinct_others(users: Vec<UserRef>, me: i64) -> Vec<UserRef> {
    let mut seen = HashSet::from([me]);
    users.into_iter().filter(|u| seen.insert(u.id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, name: &str) -> UserRef {
        UserRef {
            id,
            username: name.into(),
        }
    }

    fn member(id: i64, name: &str, role: Role) -> MemberRow {
        MemberRow {
            user: user(id, name),
            role,
            muted: false,
        }
    }

    /// alice (owner), bob (admin), carol and dave (members), joined in that order.
    fn team() -> Vec<MemberRow> {
        vec![
            member(1, "alice", Role::Owner),
            member(2, "bob", Role::Admin),
            member(3, "carol", Role::Member),
            member(4, "dave", Role::Member),
        ]
    }

    #[test]
    fn create_makes_the_creator_owner_and_dedupes_members() {
        let op = GroupOp::Create {
            title: "  Team  ".into(),
            users: vec![user(2, "bob"), user(1, "alice"), user(2, "bob")],
        };
        let plan = plan(op, &user(1, "alice"), &[], 10).unwrap();
        assert_eq!(
            plan.insert,
            [
                (user(1, "alice"), Role::Owner),
                (user(2, "bob"), Role::Member)
            ]
        );
        assert_eq!(plan.title.as_deref(), Some("Team"));
        assert_eq!(plan.events.len(), 1);
        assert_eq!(plan.events[0].0.kind, EventKind::Created);
        assert_eq!(
            plan.events[0].1,
            "alice created the group \u{201c}Team\u{201d}"
        );
    }

    #[test]
    fn titles_and_sizes_are_bounded() {
        for title in ["", "   ", "a\nb"] {
            let op = GroupOp::Rename {
                title: title.into(),
            };
            assert!(matches!(
                plan(op, &user(1, "alice"), &team(), 10),
                Err(Refusal::Invalid(_))
            ));
        }
        let long = "é".repeat(MAX_TITLE_CHARS);
        assert!(check_title(&long).is_ok());
        assert!(check_title(&format!("{long}x")).is_err());
        let op = GroupOp::Add {
            users: vec![user(5, "eve"), user(6, "frank")],
        };
        assert_eq!(
            plan(op.clone(), &user(1, "alice"), &team(), 5),
            Err(too_many(5))
        );
        assert_eq!(
            plan(op, &user(1, "alice"), &team(), 6)
                .unwrap()
                .insert
                .len(),
            2
        );
    }

    #[test]
    fn only_managers_add_remove_and_rename() {
        let carol = user(3, "carol");
        let ops = [
            GroupOp::Add {
                users: vec![user(5, "eve")],
            },
            GroupOp::Remove { user_id: 4 },
            GroupOp::Rename { title: "x".into() },
            GroupOp::SetRole {
                user_id: 4,
                role: Role::Admin,
            },
        ];
        for op in ops {
            assert!(matches!(
                plan(op, &carol, &team(), 10),
                Err(Refusal::Forbidden(_))
            ));
        }
        // An admin removes members, not admins or the owner.
        let bob = user(2, "bob");
        assert!(plan(GroupOp::Remove { user_id: 3 }, &bob, &team(), 10).is_ok());
        assert!(matches!(
            plan(GroupOp::Remove { user_id: 1 }, &bob, &team(), 10),
            Err(Refusal::Forbidden(_))
        ));
        // A stranger is told there is no such conversation.
        assert_eq!(
            plan(GroupOp::Leave, &user(9, "mallory"), &team(), 10),
            Err(Refusal::NotFound("no such conversation"))
        );
    }

    #[test]
    fn adding_members_already_in_changes_nothing() {
        let op = GroupOp::Add {
            users: vec![user(3, "carol"), user(5, "eve"), user(5, "eve")],
        };
        let plan = plan(op, &user(2, "bob"), &team(), 10).unwrap();
        assert_eq!(plan.insert, [(user(5, "eve"), Role::Member)]);
        assert_eq!(plan.events.len(), 1);
        assert_eq!(plan.events[0].1, "bob added eve");
    }

    #[test]
    fn the_owner_leaving_hands_over_to_the_longest_standing_admin_else_member() {
        let plan1 = plan(GroupOp::Leave, &user(1, "alice"), &team(), 10).unwrap();
        assert_eq!(plan1.delete, [1]);
        assert_eq!(plan1.roles, [(2, Role::Owner)]);
        assert_eq!(plan1.events[1].1, "bob is now the owner");
        let after = plan1.apply(&team());
        assert_eq!(after[0], member(2, "bob", Role::Owner));
        // No admin: the member who joined first.
        let no_admin = vec![
            member(1, "alice", Role::Owner),
            member(4, "dave", Role::Member),
            member(3, "carol", Role::Member),
        ];
        let plan2 = plan(GroupOp::Leave, &user(1, "alice"), &no_admin, 10).unwrap();
        assert_eq!(plan2.roles, [(4, Role::Owner)]);
        // The last one out leaves nobody in charge.
        let alone = vec![member(1, "alice", Role::Owner)];
        let plan3 = plan(GroupOp::Leave, &user(1, "alice"), &alone, 10).unwrap();
        assert!(plan3.roles.is_empty());
        // Removing oneself is leaving.
        let plan4 = plan(
            GroupOp::Remove { user_id: 3 },
            &user(3, "carol"),
            &team(),
            10,
        );
        assert_eq!(plan4.unwrap().events[0].0.kind, EventKind::MemberLeft);
    }

    #[test]
    fn only_the_owner_sets_admin_or_member() {
        let alice = user(1, "alice");
        let made = plan(
            GroupOp::SetRole {
                user_id: 3,
                role: Role::Admin,
            },
            &alice,
            &team(),
            10,
        )
        .unwrap();
        assert_eq!(made.roles, [(3, Role::Admin)]);
        assert_eq!(made.events[0].1, "alice made carol an admin");
        let same = GroupOp::SetRole {
            user_id: 2,
            role: Role::Admin,
        };
        assert_eq!(plan(same, &alice, &team(), 10).unwrap(), Plan::default());
        let owner = GroupOp::SetRole {
            user_id: 2,
            role: Role::Owner,
        };
        assert!(matches!(
            plan(owner, &alice, &team(), 10),
            Err(Refusal::Invalid(_))
        ));
        let stranger = GroupOp::SetRole {
            user_id: 9,
            role: Role::Admin,
        };
        assert_eq!(
            plan(stranger, &alice, &team(), 10),
            Err(Refusal::NotFound("no such member"))
        );
        let bob_sets = GroupOp::SetRole {
            user_id: 3,
            role: Role::Admin,
        };
        assert!(matches!(
            plan(bob_sets, &user(2, "bob"), &team(), 10),
            Err(Refusal::Forbidden(_))
        ));
    }
}
