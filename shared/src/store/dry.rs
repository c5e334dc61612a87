//! Dry runs: a store that reads the table and writes nothing.
//!
//! A dry run must answer exactly what the same request would answer now, so it runs the
//! real service — the same reads, planning, rounds and retries — on a [`Store::dry_run`]
//! copy of the store. That copy sends no write: each unit is judged against the items it
//! touches (read consistently, once per batch of units) by the conditions its actions
//! would carry, and its effects are kept in an overlay that every later read of the same
//! request sees. Units of one batch are judged one after the other, as if their
//! transactions had committed in that order; a failed condition gives the unit the fate
//! a cancelled transaction would give it (a taken number, a conflict, a dropped release).
//!
//! The one condition not evaluated here is a filter delete's filter on a user
//! ([`Action::DeleteUser`] with a condition): it was evaluated on the user as read, and
//! the filter delete has a dry run of its own that never reaches this module.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;

use super::actions::{Action, Expect};
use super::keys::{self, key_item};
use super::records::ClaimRecord;
use super::tx::Reason;
use super::units::{Unit, UnitFate, Verdict, judge};
use super::{Item, Store, StoreError};
use crate::deadline::Deadline;

/// The items a dry run has "written": `None` for one it has deleted.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    items: Mutex<HashMap<String, Option<Item>>>,
}

impl Overlay {
    /// What the dry run has written at `pk`, if anything (`Some(None)`: deleted).
    pub(crate) fn get(&self, pk: &str) -> Option<Option<Item>> {
        self.lock().get(pk).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Item>>> {
        // A panic while holding the lock leaves plain data behind, still usable.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// A copy of this store for one dry run: reads go to the table (and see what the dry
    /// run has written so far), writes go nowhere.
    pub fn dry_run(&self) -> Store {
        let mut dry = self.clone();
        dry.dry = Some(std::sync::Arc::default());
        dry
    }

    /// Whether this store is a dry run's.
    pub fn is_dry_run(&self) -> bool {
        self.dry.is_some()
    }

    /// The fates the units would have, their effects kept in the overlay.
    pub(super) async fn simulate_units<T>(
        &self,
        overlay: &Overlay,
        units: Vec<Unit<T>>,
        deadline: &Deadline,
    ) -> Vec<(T, UnitFate)> {
        let pks = units
            .iter()
            .flat_map(|u| u.actions().iter().map(Action::pk));
        let fetched = match self.get_many(pks, deadline).await {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = ?e, "dry run: state could not be read");
                return units
                    .into_iter()
                    .map(|u| (u.into_tag(), UnitFate::NotProcessed))
                    .collect();
            }
        };
        let mut state: HashMap<String, Option<Item>> = HashMap::new();
        let mut done = Vec::with_capacity(units.len());
        for mut unit in units {
            if unit
                .actions()
                .iter()
                .any(|a| fetched.unresolved.contains(&a.pk()))
            {
                done.push((unit.into_tag(), UnitFate::NotProcessed));
                continue;
            }
            for action in unit.actions() {
                let pk = action.pk();
                let item = fetched.items.get(&pk).cloned();
                state.entry(pk).or_insert(item);
            }
            let fate = loop {
                let reasons: Vec<Reason> = unit
                    .actions()
                    .iter()
                    .map(|a| match holds(a, state.get(&a.pk()).cloned().flatten()) {
                        true => Reason::None,
                        false => Reason::ConditionFailed,
                    })
                    .collect();
                if reasons.iter().all(|r| *r == Reason::None) {
                    match effects(unit.actions(), &state) {
                        Ok(written) => {
                            let mut kept = overlay.lock();
                            for (pk, item) in written {
                                kept.insert(pk.clone(), item.clone());
                                state.insert(pk, item);
                            }
                            break UnitFate::Applied;
                        }
                        Err(e) => {
                            tracing::error!(error = ?e, "dry run: unit could not be encoded");
                            break UnitFate::NotProcessed;
                        }
                    }
                }
                match judge(unit.roles(), &reasons) {
                    Verdict::Done(fate) => break fate,
                    Verdict::DropReleases(failed) => unit.drop_actions(&failed),
                    // Only transient reasons retry, and a dry run has none.
                    Verdict::Retry { .. } => break UnitFate::NotProcessed,
                }
            };
            done.push((unit.into_tag(), fate));
        }
        done
    }
}

impl Action {
    /// The key of the item the action writes or checks.
    pub(super) fn pk(&self) -> String {
        match self {
            Action::PutUser { record, .. } => keys::user(&record.link_id),
            Action::DeleteUser { id, .. } | Action::SetNameDup { id, .. } => keys::user(id),
            Action::OwnerUnchanged(previous) => keys::user(&previous.owner),
            Action::Claim { ident, .. }
            | Action::TakeOver { ident, .. }
            | Action::Release { ident, .. } => keys::identifier(ident),
            Action::SetRegistry { name, .. } => keys::name(name),
        }
    }
}

/// Whether the action's condition holds of `item` (the current item at its key).
fn holds(action: &Action, item: Option<Item>) -> bool {
    let number = |name: &str| {
        item.as_ref()
            .and_then(|i| i.get(name))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let owner = || {
        item.as_ref()
            .and_then(|i| i.get("owner"))
            .and_then(|v| v.as_s().ok())
            .cloned()
    };
    match action {
        Action::PutUser { expect, .. } => match expect {
            Expect::Absent => item.is_none(),
            Expect::Version(v) => number("version") == Some(*v),
        },
        // The filter of a filter delete was evaluated on the user as read.
        Action::DeleteUser { version, .. } => number("version") == Some(*version),
        Action::Claim { owner: ours, .. } | Action::Release { owner: ours, .. } => {
            item.is_none() || owner() == Some(ours.to_string())
        }
        Action::TakeOver { previous, .. } => owner() == Some(previous.to_string()),
        Action::OwnerUnchanged(previous) => match previous.version {
            None => item.is_none(),
            Some(v) => number("version") == Some(v),
        },
        Action::SetRegistry { read_ver, .. } => match read_ver {
            0 => item.is_none(),
            v => number("ver") == Some(*v),
        },
        Action::SetNameDup { read_version, .. } => number("version") == Some(*read_version),
    }
}

/// The items the actions leave behind (`None`: deleted), given the current `state`.
fn effects(
    actions: &[Action],
    state: &HashMap<String, Option<Item>>,
) -> Result<Vec<(String, Option<Item>)>, StoreError> {
    let current = |pk: &str| state.get(pk).cloned().flatten();
    let n = |v: u64| AttributeValue::N(v.to_string());
    let mut written = Vec::new();
    for action in actions {
        let pk = action.pk();
        let item = match action {
            Action::PutUser { record, .. } => Some(record.to_item()?),
            Action::DeleteUser { .. } | Action::Release { .. } => None,
            Action::Claim { ident, owner, .. } | Action::TakeOver { ident, owner, .. } => {
                Some(ClaimRecord::new(ident, owner).to_item()?)
            }
            Action::OwnerUnchanged(_) => continue,
            Action::SetRegistry {
                holders, read_ver, ..
            } => {
                let mut item = current(&pk).unwrap_or_else(|| key_item(&pk));
                item.insert("ver".into(), n(read_ver + 1));
                if holders.is_empty() {
                    item.remove("ids");
                } else {
                    let ids = holders.iter().map(ToString::to_string).collect();
                    item.insert("ids".into(), AttributeValue::Ss(ids));
                }
                Some(item)
            }
            Action::SetNameDup {
                dup, read_version, ..
            } => {
                let mut item = current(&pk).unwrap_or_else(|| key_item(&pk));
                item.insert("name_dup".into(), AttributeValue::Bool(*dup));
                item.insert("version".into(), n(read_version + 1));
                Some(item)
            }
        };
        written.push((pk, item));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::{Identifier, LinkId, NumberKind};

    fn card(n: &str) -> Identifier {
        Identifier {
            kind: NumberKind::Card,
            number: n.to_owned(),
        }
    }

    fn with(pairs: &[(&str, AttributeValue)]) -> Option<Item> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn n(v: u64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    #[test]
    fn claims_hold_when_free_or_ours_and_takeovers_only_from_the_owner_read() {
        let (me, other) = (LinkId::new_random(), LinkId::new_random());
        let claim = Action::Claim {
            ident: card("1"),
            owner: me,
        };
        let owned_by = |id: LinkId| with(&[("owner", AttributeValue::S(id.to_string()))]);
        assert!(holds(&claim, None));
        assert!(holds(&claim, owned_by(me)));
        assert!(!holds(&claim, owned_by(other)));
        let take = Action::TakeOver {
            ident: card("1"),
            owner: me,
            previous: other,
        };
        assert!(holds(&take, owned_by(other)));
        assert!(!holds(&take, None), "the claim changed since it was read");
        let release = Action::Release {
            ident: card("1"),
            owner: me,
        };
        assert!(holds(&release, None) && !holds(&release, owned_by(other)));
    }

    #[test]
    fn versions_are_the_conditions_of_users_and_registries() {
        let id = LinkId::new_random();
        let at = |v| with(&[("version", n(v))]);
        let dup = Action::SetNameDup {
            id,
            dup: true,
            read_version: 3,
        };
        assert!(holds(&dup, at(3)) && !holds(&dup, at(4)) && !holds(&dup, None));
        let registry = |read_ver| Action::SetRegistry {
            name: "Ann".into(),
            holders: BTreeSet::new(),
            read_ver,
        };
        assert!(holds(&registry(0), None));
        assert!(!holds(&registry(0), with(&[("ver", n(1))])));
        assert!(holds(&registry(1), with(&[("ver", n(1))])));
    }

    #[test]
    fn effects_write_what_the_transaction_would() {
        let (id, other) = (LinkId::new_random(), LinkId::new_random());
        let pk = keys::name("Ann");
        let mut state = HashMap::new();
        state.insert(
            pk.clone(),
            with(&[
                ("pk", AttributeValue::S(pk.clone())),
                ("ids", AttributeValue::Ss(vec![other.to_string()])),
                ("ver", n(4)),
            ]),
        );
        let actions = [
            Action::SetRegistry {
                name: "Ann".into(),
                holders: BTreeSet::new(),
                read_ver: 4,
            },
            Action::Claim {
                ident: card("7"),
                owner: id,
            },
            Action::Release {
                ident: card("8"),
                owner: id,
            },
        ];
        let written = effects(&actions, &state).unwrap();
        let registry = written[0].1.as_ref().unwrap();
        assert_eq!(registry.get("ver"), Some(&n(5)));
        assert!(
            !registry.contains_key("ids"),
            "an emptied registry has no ids"
        );
        assert_eq!(
            written[1].1.as_ref().unwrap().get("owner"),
            Some(&AttributeValue::S(id.to_string()))
        );
        assert_eq!(written[2], (keys::identifier(&card("8")), None));
    }
}
