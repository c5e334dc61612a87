//! `POST /api/v1/users/bulk`: any body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| api_fuzz::upsert_body(data));
