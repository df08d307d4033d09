//! The group URL: `<base>/metrics/job/<job>{/<label>/<value>}`.
//!
//! A value goes into the path as it is only when it is made of unreserved characters
//! (`A-Z a-z 0-9 - . _ ~`). Anything else, including `/`, spaces and unicode, takes the
//! Pushgateway's `<label>@base64/<url-safe base64>` form, which the gateway decodes exactly; an empty
//! value is `<label>@base64/=`. Percent-encoding is never used: the gateway cannot carry `%2F`, and
//! other clients that encode a space as `+` deliver a `+`.

use crate::encoding::base64::{encode_into, URL_SAFE_NO_PAD};

use super::PushConfig;

/// Whether `value` can stand in a path segment as it is. `.` and `..` cannot, although unreserved:
/// URL parsers resolve them as dot segments, and the group would lose a label or move to another.
fn is_plain(value: &str) -> bool {
    !matches!(value, "" | "." | "..")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn push_segment(url: &mut String, label: &str, value: &str) {
    url.push('/');
    url.push_str(label);
    if is_plain(value) {
        url.push('/');
        url.push_str(value);
    } else if value.is_empty() {
        url.push_str("@base64/=");
    } else {
        url.push_str("@base64/");
        encode_into(url, value.as_bytes(), URL_SAFE_NO_PAD);
    }
}

/// The URL of the group that `config` pushes to.
pub fn group_url(config: &PushConfig) -> String {
    let mut url = config.url.trim_end_matches('/').to_owned();
    url.push_str("/metrics");
    push_segment(&mut url, "job", &config.job);
    for (label, value) in &config.grouping {
        push_segment(&mut url, label, value);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encoded_segments() {
        let mut c = PushConfig::new("http://gw:9091/", "batch-1");
        assert_eq!(group_url(&c), "http://gw:9091/metrics/job/batch-1");
        c.grouping.insert("path".into(), "a/b c".into());
        c.grouping.insert("empty".into(), String::new());
        c.grouping.insert("zone".into(), "eu.1".into());
        assert_eq!(
            group_url(&c),
            "http://gw:9091/metrics/job/batch-1/empty@base64/=/path@base64/YS9iIGM/zone/eu.1"
        );
        c.grouping.clear();
        c.grouping.insert("dot".into(), ".".into());
        c.grouping.insert("dots".into(), "..".into());
        assert_eq!(
            group_url(&c),
            "http://gw:9091/metrics/job/batch-1/dot@base64/Lg/dots@base64/Li4"
        );
        c.job = "ünï".into();
        assert!(group_url(&c).starts_with("http://gw:9091/metrics/job@base64/w7xuw68/"));
    }
}

#[cfg(test)]
mod redaction {
    use crate::sinks::http::redact_url;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("http://user:pa:ss@gw:9091/metrics/job/j"),
            "http://user:***@gw:9091/metrics/job/j"
        );
        assert_eq!(redact_url("https://tok@gw"), "https://***@gw");
        assert_eq!(redact_url("http://gw:9091/a@b"), "http://gw:9091/a@b");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
