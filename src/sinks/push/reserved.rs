//! What the Pushgateway reserves in the recorder: `job` and the grouping labels (it sets them on
//! every series of a group) and the types of the families it exports itself.

use super::PushConfig;
use crate::recorder::config::Reserved;
use crate::recorder::index::Kind;

/// Families that Pushgateway 1.5.1 exports itself (read off its `/metrics`). Pushing one of these
/// names with another type makes the gateway reject the whole push.
const GATEWAY_FAMILIES: &[(&str, Kind)] = &[
    ("go_gc_duration_seconds", Kind::Summary),
    ("go_goroutines", Kind::Gauge),
    ("go_info", Kind::Gauge),
    ("go_memstats_alloc_bytes", Kind::Gauge),
    ("go_memstats_alloc_bytes_total", Kind::Counter),
    ("go_memstats_buck_hash_sys_bytes", Kind::Gauge),
    ("go_memstats_frees_total", Kind::Counter),
    ("go_memstats_gc_sys_bytes", Kind::Gauge),
    ("go_memstats_heap_alloc_bytes", Kind::Gauge),
    ("go_memstats_heap_idle_bytes", Kind::Gauge),
    ("go_memstats_heap_inuse_bytes", Kind::Gauge),
    ("go_memstats_heap_objects", Kind::Gauge),
    ("go_memstats_heap_released_bytes", Kind::Gauge),
    ("go_memstats_heap_sys_bytes", Kind::Gauge),
    ("go_memstats_last_gc_time_seconds", Kind::Gauge),
    ("go_memstats_lookups_total", Kind::Counter),
    ("go_memstats_mallocs_total", Kind::Counter),
    ("go_memstats_mcache_inuse_bytes", Kind::Gauge),
    ("go_memstats_mcache_sys_bytes", Kind::Gauge),
    ("go_memstats_mspan_inuse_bytes", Kind::Gauge),
    ("go_memstats_mspan_sys_bytes", Kind::Gauge),
    ("go_memstats_next_gc_bytes", Kind::Gauge),
    ("go_memstats_other_sys_bytes", Kind::Gauge),
    ("go_memstats_stack_inuse_bytes", Kind::Gauge),
    ("go_memstats_stack_sys_bytes", Kind::Gauge),
    ("go_memstats_sys_bytes", Kind::Gauge),
    ("go_threads", Kind::Gauge),
    ("process_cpu_seconds_total", Kind::Counter),
    ("process_max_fds", Kind::Gauge),
    ("process_open_fds", Kind::Gauge),
    ("process_resident_memory_bytes", Kind::Gauge),
    ("process_start_time_seconds", Kind::Gauge),
    ("process_virtual_memory_bytes", Kind::Gauge),
    ("process_virtual_memory_max_bytes", Kind::Gauge),
    ("push_failure_time_seconds", Kind::Gauge),
    ("push_time_seconds", Kind::Gauge),
    ("pushgateway_build_info", Kind::Gauge),
    ("pushgateway_http_push_duration_seconds", Kind::Summary),
    ("pushgateway_http_push_size_bytes", Kind::Summary),
    ("pushgateway_http_requests_total", Kind::Counter),
];

impl PushConfig {
    /// The labels this push sets on every series (`job` and the grouping labels) and the gateway's
    /// own families.
    pub(crate) fn reserved(&self) -> Reserved {
        Reserved {
            labels: std::iter::once("job")
                .chain(self.grouping.keys().map(String::as_str))
                .map(str::to_owned)
                .collect(),
            families: GATEWAY_FAMILIES.to_vec(),
        }
    }
}
