//! `DELETE /api/v1/users?<query>`: any query string, as the HTTP adapter reads it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| api_fuzz::filter_query(data));
