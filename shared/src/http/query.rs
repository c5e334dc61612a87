//! The filter delete's query string (docs/contracts.md#delete-by-filter).

use lambda_http::Request;

use crate::config::Limits;
use crate::domain::Timestamp;
use crate::domain::filter::{FilterRequest, query_pairs};
use crate::http::error::RequestError;

/// Parses the filter of `DELETE /api/v1/users?<filter>`; relative times (`now-90d`) are
/// taken from now.
pub fn filter_request(req: &Request, limits: &Limits) -> Result<FilterRequest, RequestError> {
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    FilterRequest::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        Timestamp::now(),
        limits.max_items,
    )
    .map_err(RequestError::Filter)
}
