//! `POST /api/v1/users/bulk/delete` with an XML body: any body.
#![no_main]

use shared::http::body::delete_or_restore::Format;

libfuzzer_sys::fuzz_target!(|data: &[u8]| api_fuzz::restore_body(data, Format::Xml));
