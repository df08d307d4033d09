#![no_main]
//! See `observer_metrics_fuzz::group_url` for the input and the oracle.

libfuzzer_sys::fuzz_target!(|data: &[u8]| observer_metrics_fuzz::group_url::check_bytes(data));
