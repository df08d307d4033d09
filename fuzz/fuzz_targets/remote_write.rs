#![no_main]
//! See `observer_metrics_fuzz::remote_write` for the input and the oracle.

libfuzzer_sys::fuzz_target!(|data: &[u8]| observer_metrics_fuzz::remote_write::check_bytes(data));
