//! Per-item outcomes: one enum for every `extended_info` value of the contracts.

use serde::{Serialize, Serializer};

use crate::domain::LinkId;

/// The `extended_info` of one item. The spelling of every value is fixed by the contract
/// (`has_dublicates` included); [`ExtendedInfo::NotProcessed`] is this service's own
/// addition for items DynamoDB did not accept before the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtendedInfo {
    /// A new user was written.
    Created,
    /// An existing user was written.
    Updated,
    /// The user was removed.
    Deleted,
    /// The user an upsert item names by `link_id` was deleted by another request between
    /// this request's read and its write; it stays deleted and nothing is written.
    EntityNotFound,
    /// No such user (delete by id).
    NotFound,
    /// No `link_id` and several users carry the name: nothing was applied.
    HasDublicates,
    /// A card or PIN number belongs to another user.
    NumberTakenByAnotherIdentifier,
    /// A face image is not base64 of a JPEG or PNG within the size limit.
    #[serde(rename = "bad_base_64_image_file")]
    BadBase64ImageFile,
    /// Listed by the contract but never sent (docs/contracts.md#values-never-produced):
    /// face recognition is not part of this service.
    FaceHasNotRecognized,
    /// `time_profile_id` names no time profile.
    BoundTimeProfileDoesntExist,
    /// Face factors were sent while face support is configured off.
    FaceIdNotSupported,
    /// More face factors than the configured limit.
    NumberOfFaceIdentifiersExceeded,
    /// More card/PIN factors than the configured limit.
    NumberOfIdentifiersExceeded,
    /// Listed by the contract but never sent (docs/contracts.md#values-never-produced):
    /// time rules are not part of this service.
    InvalidTimeRulesSettings,
    /// Nothing was written for this item: DynamoDB kept throttling or the request ran
    /// into its deadline. Sending the item again is safe.
    NotProcessed,
    /// The item would make its user one more holder of a name that already has
    /// [`MAX_NAMESAKES`](crate::service::MAX_NAMESAKES) users: nothing written.
    /// This service's own addition, like `not_processed`.
    TooManyNamesakes,
}

impl ExtendedInfo {
    /// Whether the item was applied (`success` in the answers).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            ExtendedInfo::Created | ExtendedInfo::Updated | ExtendedInfo::Deleted
        )
    }
}

/// The outcome of one item of a bulk request, rendered as one element of `result`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemOutcome {
    /// The user the item applied to; `None` where no user could be named.
    pub link_id: Option<LinkId>,
    /// What happened.
    pub info: ExtendedInfo,
    /// Whether another live user carries the same name; only upsert answers carry it.
    pub has_dublicates: Option<bool>,
}

impl ItemOutcome {
    /// An outcome of an upsert item (which always carries `has_dublicates`).
    pub fn upsert(link_id: Option<LinkId>, info: ExtendedInfo, has_dublicates: bool) -> Self {
        Self {
            link_id,
            info,
            has_dublicates: Some(has_dublicates),
        }
    }

    /// An outcome of a delete item (no `has_dublicates`).
    pub fn delete(link_id: LinkId, info: ExtendedInfo) -> Self {
        Self {
            link_id: Some(link_id),
            info,
            has_dublicates: None,
        }
    }
}

impl Serialize for ItemOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let len = if self.has_dublicates.is_some() { 4 } else { 3 };
        let mut s = serializer.serialize_struct("ItemOutcome", len)?;
        s.serialize_field("link_id", &self.link_id)?;
        s.serialize_field("success", &self.info.is_success())?;
        s.serialize_field("extended_info", &self.info)?;
        if let Some(d) = self.has_dublicates {
            s.serialize_field("has_dublicates", &d)?;
        }
        s.end()
    }
}

/// The 200 body of the bulk endpoints: `{"result": [...]}` in request order.
#[derive(Debug, Serialize)]
pub struct BulkResult<'a> {
    /// One outcome per request item.
    pub result: &'a [ItemOutcome],
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_render_as_in_the_contract() {
        let id: LinkId = uuid::Uuid::parse_str("91c615e3-1040-4815-8ecb-039a18b756b5")
            .unwrap()
            .into();
        let up = ItemOutcome::upsert(Some(id), ExtendedInfo::Created, false);
        assert_eq!(
            serde_json::to_value(&up).unwrap(),
            json!({"link_id": "91c615e3-1040-4815-8ecb-039a18b756b5", "success": true,
                   "extended_info": "created", "has_dublicates": false})
        );
        let del = ItemOutcome::delete(id, ExtendedInfo::NotFound);
        assert_eq!(
            serde_json::to_value(&del).unwrap(),
            json!({"link_id": "91c615e3-1040-4815-8ecb-039a18b756b5", "success": false,
                   "extended_info": "not_found"})
        );
        let dup = ItemOutcome::upsert(None, ExtendedInfo::HasDublicates, true);
        assert_eq!(serde_json::to_value(&dup).unwrap()["link_id"], json!(null));
    }

    #[test]
    fn every_contract_spelling_is_kept() {
        let all = [
            (ExtendedInfo::HasDublicates, "has_dublicates"),
            (ExtendedInfo::BadBase64ImageFile, "bad_base_64_image_file"),
            (
                ExtendedInfo::BoundTimeProfileDoesntExist,
                "bound_time_profile_doesnt_exist",
            ),
            (
                ExtendedInfo::NumberTakenByAnotherIdentifier,
                "number_taken_by_another_identifier",
            ),
            (
                ExtendedInfo::NumberOfFaceIdentifiersExceeded,
                "number_of_face_identifiers_exceeded",
            ),
            (ExtendedInfo::FaceIdNotSupported, "face_id_not_supported"),
            (ExtendedInfo::EntityNotFound, "entity_not_found"),
            (ExtendedInfo::TooManyNamesakes, "too_many_namesakes"),
        ];
        for (v, s) in all {
            assert_eq!(serde_json::to_value(v).unwrap(), json!(s));
        }
    }
}
