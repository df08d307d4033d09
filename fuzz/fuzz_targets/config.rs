#![no_main]
//! See `observer_metrics_fuzz::config` for the input and the oracle.

libfuzzer_sys::fuzz_target!(|data: &[u8]| observer_metrics_fuzz::config::check_bytes(data));
