//! `cleanup-users`: any event payload (the schedule rule's input).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| api_fuzz::cleanup_input(data));
