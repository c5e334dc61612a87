//! The stored shapes, mapped to DynamoDB items with `serde_dynamo`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use uuid::Uuid;

use super::{Item, StoreError, keys};
use crate::domain::scim::user::ScimProfile;
use crate::domain::{Identifier, LinkId, NumberKind};

/// An authentication factor as stored on the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoredFactor {
    /// Access card; its number is claimed in an `IDENT#card#...` item.
    Card {
        /// The card number.
        number: String,
    },
    /// PIN; its number is claimed in an `IDENT#pin#...` item.
    Pin {
        /// The PIN.
        number: String,
    },
    /// Face image, decoded (stored as binary: a third smaller than base64).
    Face {
        /// JPEG or PNG bytes.
        #[serde(with = "serde_bytes")]
        image: Vec<u8>,
    },
}

impl StoredFactor {
    /// The numbered identifier of a card or PIN factor.
    pub fn identifier(&self) -> Option<Identifier> {
        match self {
            StoredFactor::Card { number } => Some(Identifier {
                kind: NumberKind::Card,
                number: number.clone(),
            }),
            StoredFactor::Pin { number } => Some(Identifier {
                kind: NumberKind::Pin,
                number: number.clone(),
            }),
            StoredFactor::Face { .. } => None,
        }
    }
}

/// A user as stored under `USER#<link_id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// `USER#<link_id>`.
    pub pk: String,
    /// The user's id.
    pub link_id: LinkId,
    /// Display name, matched exactly.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// E-mail; the key of the `email-index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Role reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// User type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// Whether the user may authenticate.
    pub active: bool,
    /// Cards, PINs and faces.
    pub auth_factors: Vec<StoredFactor>,
    /// Bound time profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_profile_id: Option<Uuid>,
    /// Presence state.
    #[serde(default)]
    pub is_online: bool,
    /// Address of the last login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_ip: Option<String>,
    /// Time of the last login (stored form of [`crate::domain::Timestamp`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_time: Option<String>,
    /// Creation time, set by the server once.
    pub create_time: String,
    /// Who created the user (the token's subject).
    pub created_by: String,
    /// Time of the last change.
    pub update_time: String,
    /// Who made the last change.
    pub updated_by: String,
    /// Whether another live user carries the same name; kept in step with the name
    /// registry by every write that changes a registry, so an update that keeps its
    /// name needs no name lookup (see `docs/storage.md`).
    #[serde(default)]
    pub name_dup: bool,
    /// Optimistic-locking counter, bumped by every write.
    pub version: u64,
    /// When the user was soft-deleted; absent for live users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Who soft-deleted the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
    /// Partition key of the sparse `deleted-index`; present only while soft-deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub del_shard: Option<String>,
    /// What SCIM keeps of the user (`userName`, `externalId`, name parts, e-mails); absent
    /// for users never written through SCIM. Its `userName` is claimed like a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimProfile>,
}

impl UserRecord {
    /// Whether the user is live (not soft-deleted).
    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }

    /// The user's card and PIN numbers, and its SCIM `userName`: what it claims.
    pub fn identifiers(&self) -> BTreeSet<Identifier> {
        let mut ids: BTreeSet<Identifier> = self
            .auth_factors
            .iter()
            .filter_map(StoredFactor::identifier)
            .collect();
        ids.extend(self.scim.as_ref().map(user_name_claim));
        ids
    }

    /// The bytes of the user's face images: nearly all of a large record, and what
    /// decides how many users fit in one transaction.
    pub fn face_bytes(&self) -> usize {
        self.auth_factors
            .iter()
            .map(|f| match f {
                StoredFactor::Face { image } => image.len(),
                _ => 0,
            })
            .sum()
    }

    /// The DynamoDB item.
    pub fn to_item(&self) -> Result<Item, StoreError> {
        to_item(self).map_err(StoreError::Encode)
    }

    /// Reads a stored user.
    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        decode(item)
    }
}

/// The claim a SCIM `userName` makes: by its lower case, so that `Ann` and `ann` clash.
pub fn user_name_claim(profile: &ScimProfile) -> Identifier {
    Identifier {
        kind: NumberKind::UserName,
        number: profile.user_name_key(),
    }
}

/// The live users carrying one name, under `NAME#<name>`.
///
/// `ver` grows with every change and is the condition of every registry write, so two
/// writers that read the same registry cannot both apply. Emptied registries are kept
/// (a few bytes) so `ver` never restarts and a stale reader can never match it again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRegistry {
    /// `NAME#<name>`.
    pub pk: String,
    /// Ids of the live users with this name (a string set).
    #[serde(
        with = "serde_dynamo::string_set",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ids: Vec<String>,
    /// Change counter; 0 means the registry does not exist yet.
    pub ver: u64,
}

impl NameRegistry {
    /// Reads a stored registry.
    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        decode(item)
    }

    /// The member ids; ids that do not parse are skipped (never written by this code).
    pub fn members(&self) -> BTreeSet<LinkId> {
        self.ids
            .iter()
            .filter_map(|s| Uuid::try_parse(s).ok().map(LinkId::from))
            .collect()
    }
}

/// The claim of a card or PIN number under `IDENT#<kind>#<number>`: one owner per
/// number. It counts only while its owner exists and carries the number; otherwise the
/// next claimant takes it over (see `docs/storage.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// `IDENT#<kind>#<number>`.
    pub pk: String,
    /// The owner's link id.
    pub owner: String,
}

impl ClaimRecord {
    /// The claim of `ident` by `owner`.
    pub fn new(ident: &Identifier, owner: &LinkId) -> Self {
        Self {
            pk: keys::identifier(ident),
            owner: owner.to_string(),
        }
    }

    /// Reads a stored claim.
    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        decode(item)
    }

    /// The DynamoDB item.
    pub fn to_item(&self) -> Result<Item, StoreError> {
        to_item(self).map_err(StoreError::Encode)
    }

    /// The owner; `None` for an id that does not parse (never written by this code), as
    /// if the claim did not exist.
    pub fn owner(&self) -> Option<LinkId> {
        Uuid::try_parse(&self.owner).ok().map(LinkId::from)
    }
}

/// A time profile under `TIMEPROFILE#<id>`; only its existence matters to upserts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeProfileRecord {
    /// `TIMEPROFILE#<id>`.
    pub pk: String,
    /// The profile's id.
    pub time_profile_id: Uuid,
    /// A label for people.
    pub name: String,
}

impl TimeProfileRecord {
    /// A profile record.
    pub fn new(id: Uuid, name: impl Into<String>) -> Self {
        Self {
            pk: keys::time_profile(&id),
            time_profile_id: id,
            name: name.into(),
        }
    }

    /// The DynamoDB item.
    pub fn to_item(&self) -> Result<Item, StoreError> {
        to_item(self).map_err(StoreError::Encode)
    }
}

/// A stored user for the tests of code that plans on what was read.
#[cfg(test)]
impl UserRecord {
    /// A live user created by `ops`, at version 1, with the given name and factors.
    pub(crate) fn for_tests(id: LinkId, name: &str, auth_factors: Vec<StoredFactor>) -> Self {
        UserRecord {
            pk: keys::user(&id),
            link_id: id,
            name: name.into(),
            info: None,
            email: None,
            role_id: None,
            user_type: None,
            active: true,
            auth_factors,
            time_profile_id: None,
            is_online: false,
            login_ip: None,
            last_login_time: None,
            create_time: "2026-01-01T00:00:00.000Z".into(),
            created_by: "ops".into(),
            update_time: "2026-01-01T00:00:00.000Z".into(),
            updated_by: "ops".into(),
            name_dup: false,
            version: 1,
            deleted_at: None,
            deleted_by: None,
            del_shard: None,
            scim: None,
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let pk = keys::pk_of(&item).unwrap_or_default().to_owned();
    from_item(item).map_err(|source| StoreError::Corrupt { pk, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn user() -> UserRecord {
        let factors = vec![
            StoredFactor::Card {
                number: "42".into(),
            },
            StoredFactor::Face {
                image: vec![0xff, 0xd8, 0xff, 0],
            },
        ];
        UserRecord {
            info: Some("badge 7".into()),
            role_id: Some("r1".into()),
            time_profile_id: Some(Uuid::new_v4()),
            login_ip: Some("10.0.0.1".into()),
            version: 3,
            ..UserRecord::for_tests(LinkId::new_random(), "Ann", factors)
        }
    }

    #[test]
    fn user_round_trips_and_stores_faces_as_binary() {
        let u = user();
        let item = u.to_item().unwrap();
        assert!(!item.contains_key("email"), "absent options are not stored");
        let faces = item["auth_factors"].as_l().unwrap();
        assert!(matches!(
            faces[1].as_m().unwrap()["image"],
            AttributeValue::B(_)
        ));
        assert_eq!(
            faces[0].as_m().unwrap()["type"],
            AttributeValue::S("card".into())
        );
        assert_eq!(UserRecord::from_item(item).unwrap(), u);
    }

    #[test]
    fn registry_round_trips_as_a_string_set() {
        let r = NameRegistry {
            pk: keys::name("Ann"),
            ids: vec![LinkId::new_random().to_string()],
            ver: 2,
        };
        let item = to_item(&r).unwrap();
        assert!(matches!(item["ids"], AttributeValue::Ss(_)));
        assert_eq!(NameRegistry::from_item(item).unwrap(), r);
        let emptied = Item::from([
            ("pk".to_string(), AttributeValue::S("NAME#x".into())),
            ("ver".to_string(), AttributeValue::N("7".into())),
        ]);
        let r = NameRegistry::from_item(emptied).unwrap();
        assert!(r.members().is_empty());
        assert_eq!(r.ver, 7);
    }

    #[test]
    fn a_claim_round_trips_as_its_key_and_owner() {
        let owner = LinkId::new_random();
        let ident = Identifier {
            kind: NumberKind::Pin,
            number: "0042".into(),
        };
        let c = ClaimRecord::new(&ident, &owner);
        let item = c.to_item().unwrap();
        assert_eq!(item.len(), 2);
        assert_eq!(item["pk"], AttributeValue::S("IDENT#pin#0042".into()));
        assert_eq!(item["owner"], AttributeValue::S(owner.to_string()));
        let back = ClaimRecord::from_item(item).unwrap();
        assert_eq!(back.owner(), Some(owner));
        let foreign = ClaimRecord {
            owner: "not a uuid".into(),
            ..back
        };
        assert_eq!(foreign.owner(), None);
    }

    #[test]
    fn face_bytes_count_only_images() {
        assert_eq!(user().face_bytes(), 4);
    }

    #[test]
    fn time_profile_round_trips() {
        let p = TimeProfileRecord::new(Uuid::new_v4(), "office hours");
        let back: TimeProfileRecord = decode(p.to_item().unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn a_foreign_item_is_reported_with_its_key() {
        let item = keys::key_item("USER#x");
        let e = UserRecord::from_item(item).unwrap_err();
        assert_eq!(e.to_string(), "stored item USER#x could not be read");
    }
}
