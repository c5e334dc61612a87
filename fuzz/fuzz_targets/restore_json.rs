//! `POST /api/v1/users/bulk/delete` with a JSON body: any body.
#![no_main]

use shared::http::negotiate::Format;

libfuzzer_sys::fuzz_target!(|data: &[u8]| api_fuzz::restore_body(data, Format::Json));
