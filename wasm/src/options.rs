//! The options object of `new ObserverMetrics(options)`: every option checked at construction,
//! by its JS name, so a mistake throws there rather than failing every push later.
//!
//! - An unknown option name (a typo such as `pushGatewayUrl`) is an error listing the known ones.
//! - A value of the wrong type is a `TypeError` naming the option.
//! - What the core refuses (a URL with a `?query` or a bad port, a header value that is not
//!   printable ASCII, a timer past the JS timers' range) is an `Error` naming the option as JS
//!   spells it (`groupingKey`, not `push.grouping`).

use js_sys::{Array, Object, Reflect};
use observer_metrics::push::{PushConfig, PushMethod};
use observer_metrics::remote_write::RemoteWriteConfig;
use observer_metrics::{ConfigError, MetricsConfig};
use wasm_bindgen::{JsCast, JsValue};

use crate::args;

const NEW: &str = "new ObserverMetrics";

/// Every option, as JS spells it.
const KNOWN: [&str; 14] = [
    "job",
    "pushgatewayUrl",
    "remoteWriteUrl",
    "instance",
    "groupingKey",
    "exportIntervalSecs",
    "histogramBuckets",
    "sampleRate",
    "method",
    "headers",
    "timeoutMs",
    "prefix",
    "globalLabels",
    "onError",
];

/// The checked options.
pub(crate) struct Options {
    pub(crate) config: MetricsConfig,
    pub(crate) on_error: Option<js_sys::Function>,
}

/// `options[name]` unless it is absent, `undefined` or `null`.
fn get(options: &JsValue, name: &str) -> Result<Option<JsValue>, JsValue> {
    let value = Reflect::get(options, &JsValue::from_str(name))?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

/// The option's name for messages: `options.groupingKey`.
fn option(name: &str) -> String {
    format!("options.{name}")
}

/// An option of one type, read with one of the [`args`] readers.
fn typed<T>(
    options: &JsValue,
    name: &str,
    read: fn(&str, &str, &JsValue) -> Result<T, JsValue>,
) -> Result<Option<T>, JsValue> {
    get(options, name)?
        .map(|v| read(NEW, &option(name), &v))
        .transpose()
}

/// A core config error, with the option named as JS spells it.
pub(crate) fn config_error(e: ConfigError) -> JsValue {
    let (rust, rest) = match e.field.split_once('.') {
        Some((sink @ ("push" | "remote_write"), rest)) => match rest.split_once('.') {
            Some((field, key)) => (format!("{sink}.{field}"), Some(key.to_owned())),
            None => (e.field.clone(), None),
        },
        Some((field, key)) => (field.to_owned(), Some(key.to_owned())),
        None => (e.field.clone(), None),
    };
    let js = match rust.as_str() {
        "push.url" => "pushgatewayUrl",
        "push.job" => "job",
        "push.grouping" => "groupingKey",
        "push.headers" => "headers",
        "push.method" => "method",
        "push.timeout_ms" => "timeoutMs",
        "remote_write.url" => "remoteWriteUrl",
        "remote_write.job" => "job",
        "remote_write.instance" => "instance",
        "remote_write.headers" => "headers",
        "remote_write.timeout_ms" => "timeoutMs",
        "histogram_buckets" => "histogramBuckets",
        "sample_rate" => "sampleRate",
        "export_interval_secs" => "exportIntervalSecs",
        "global_labels" => "globalLabels",
        other => other,
    };
    let name = match rest {
        Some(key) => format!("{js}.{key}"),
        None => js.to_owned(),
    };
    js_sys::Error::new(&format!(
        "{NEW}: options.{name} = {}: {}",
        e.value, e.reason
    ))
    .into()
}

/// Reads and checks `options` (`undefined` or `null` means all defaults).
pub(crate) fn read(options: &JsValue) -> Result<Options, JsValue> {
    if options.is_undefined() || options.is_null() {
        let config = MetricsConfig::default();
        return Ok(Options {
            config,
            on_error: None,
        });
    }
    if options.dyn_ref::<Object>().is_none() || Array::is_array(options) {
        return Err(args::type_error(NEW, "options", "an object", options));
    }
    let keys = Object::keys(options.unchecked_ref::<Object>());
    for key in keys.iter() {
        let key = key.as_string().unwrap_or_default();
        if !KNOWN.contains(&key.as_str()) {
            return Err(js_sys::Error::new(&format!(
                "{NEW}: unknown option {}; the options are {}",
                args::quoted(&key),
                KNOWN.join(", ")
            ))
            .into());
        }
    }

    let mut config = MetricsConfig::default();
    if let Some(secs) = typed(options, "exportIntervalSecs", args::number)? {
        if !(secs >= 1.0 && secs.fract() == 0.0 && secs <= u32::MAX as f64) {
            return Err(js_sys::RangeError::new(&format!(
                "{NEW}: options.exportIntervalSecs must be a whole number of seconds >= 1, got {}",
                args::shown(secs)
            ))
            .into());
        }
        config.export_interval_secs = secs as u64;
    }
    if let Some(buckets) = get(options, "histogramBuckets")? {
        let what = option("histogramBuckets");
        if !Array::is_array(&buckets) {
            return Err(args::type_error(
                NEW,
                &what,
                "an array of numbers",
                &buckets,
            ));
        }
        config.histogram_buckets = Array::from(&buckets)
            .iter()
            .enumerate()
            .map(|(i, b)| args::number(NEW, &format!("{what}[{i}]"), &b))
            .collect::<Result<_, _>>()?;
    }
    if let Some(rate) = typed(options, "sampleRate", args::number)? {
        config.sample_rate = rate;
    }
    config.prefix = typed(options, "prefix", args::string)?;
    if let Some(labels) = get(options, "globalLabels")? {
        config.global_labels = args::string_map(NEW, &option("globalLabels"), &labels)?;
    }
    let on_error = match get(options, "onError")? {
        Some(f) => Some(
            f.dyn_into::<js_sys::Function>()
                .map_err(|f| args::type_error(NEW, "options.onError", "a function", &f))?,
        ),
        None => None,
    };

    let push_url = typed(options, "pushgatewayUrl", args::string)?;
    let write_url = typed(options, "remoteWriteUrl", args::string)?;
    let sink_options = ["job", "headers", "timeoutMs"];
    let given = |name: &str| {
        Reflect::get(options, &JsValue::from_str(name)).is_ok_and(|v| !v.is_undefined())
    };
    if push_url.is_none() && write_url.is_none() {
        if let Some(name) = sink_options
            .iter()
            .chain(&["groupingKey", "method", "instance"])
            .find(|n| given(n))
        {
            return Err(js_sys::Error::new(&format!(
                "{NEW}: options.{name} only applies with pushgatewayUrl or remoteWriteUrl, and neither is given"
            ))
            .into());
        }
        config.validate().map_err(config_error)?;
        return Ok(Options { config, on_error });
    }
    let job = typed(options, "job", args::string)?.ok_or_else(|| {
        JsValue::from(js_sys::Error::new(&format!(
            "{NEW}: options.job is required with pushgatewayUrl or remoteWriteUrl"
        )))
    })?;
    // Read for each sink rather than cloned: the module is smaller without a map clone.
    let headers = || match get(options, "headers")? {
        Some(h) => args::string_map(NEW, &option("headers"), &h),
        None => Ok(Default::default()),
    };
    let timeout_ms = match typed(options, "timeoutMs", args::number)? {
        Some(ms) if !(ms >= 1.0 && ms.is_finite()) => {
            return Err(js_sys::RangeError::new(&format!(
                "{NEW}: options.timeoutMs must be a number of milliseconds >= 1, got {}",
                args::shown(ms)
            ))
            .into())
        }
        // Past u64 saturates, and validation refuses it with the timers' range.
        Some(ms) => Some(ms as u64),
        None => None,
    };
    if let Some(url) = push_url {
        let mut push = PushConfig::new(url, job.clone());
        if let Some(grouping) = get(options, "groupingKey")? {
            push.grouping = args::string_map(NEW, &option("groupingKey"), &grouping)?;
        }
        push.headers = headers()?;
        push.method = match typed(options, "method", args::string)?.as_deref() {
            None | Some("put") => PushMethod::Put,
            Some("post") => PushMethod::Post,
            Some(other) => {
                return Err(js_sys::Error::new(&format!(
                    "{NEW}: options.method must be \"put\" or \"post\", got {}",
                    args::quoted(other)
                ))
                .into())
            }
        };
        if let Some(ms) = timeout_ms {
            push.timeout_ms = ms;
        }
        config.push = Some(push);
    } else if let Some(name) = ["groupingKey", "method"].iter().find(|n| given(n)) {
        return Err(js_sys::Error::new(&format!(
            "{NEW}: options.{name} only applies with pushgatewayUrl, which is not given"
        ))
        .into());
    }
    if let Some(url) = write_url {
        let mut rw = RemoteWriteConfig::new(url, job);
        rw.instance = typed(options, "instance", args::string)?;
        rw.headers = headers()?;
        if let Some(ms) = timeout_ms {
            rw.timeout_ms = ms;
        }
        config.remote_write = Some(rw);
    } else if given("instance") {
        return Err(js_sys::Error::new(&format!(
            "{NEW}: options.instance only applies with remoteWriteUrl, which is not given"
        ))
        .into());
    }
    config.validate().map_err(config_error)?;
    Ok(Options { config, on_error })
}
