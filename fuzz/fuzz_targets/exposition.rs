#![no_main]
//! See `observer_metrics_fuzz::exposition` for the input and the oracle.

libfuzzer_sys::fuzz_target!(|data: &[u8]| observer_metrics_fuzz::exposition::check_bytes(data));
