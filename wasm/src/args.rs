//! JS arguments checked before they become Rust values. wasm-bindgen's glue copies a `&str`
//! argument into wasm memory without looking at it: a number there corrupted the module, and a
//! few thousand such calls killed Node. So every entry point takes `JsValue`s and this module turns
//! them into Rust values, throwing a `TypeError` that names the method and the argument when a
//! value has the wrong type. Numbers are never coerced: `"3"`, `null` and `undefined` are refused.

use std::collections::BTreeMap;

use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};

/// `typeof value`, with `null` and arrays told apart, for messages.
fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if Array::is_array(value) {
        "array".into()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// A number as JavaScript writes it (`1.5`, `-1`, `NaN`, `Infinity`), for messages: JS users read
/// them, and the runtime's formatting spares the module Rust's (about 20 KB).
pub(crate) fn shown(value: f64) -> String {
    js_sys::Number::from(value)
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_default()
}

/// A string quoted as JavaScript writes it (`"a\"b"`), for messages: JS users read them, and the
/// runtime's quoting spares the module Rust's `Debug` escaping.
pub(crate) fn quoted(text: &str) -> String {
    js_sys::JSON::stringify(&JsValue::from_str(text))
        .map(String::from)
        .unwrap_or_default()
}

/// A `TypeError`: `<method>: <what> must be <expected>, got <type>`.
pub(crate) fn type_error(method: &str, what: &str, expected: &str, got: &JsValue) -> JsValue {
    js_sys::TypeError::new(&format!(
        "{method}: {what} must be {expected}, got {}",
        type_name(got)
    ))
    .into()
}

/// A string argument.
pub(crate) fn string(method: &str, what: &str, value: &JsValue) -> Result<String, JsValue> {
    value
        .as_string()
        .ok_or_else(|| type_error(method, what, "a string", value))
}

/// A number argument (NaN included: what it means is the caller's rule).
pub(crate) fn number(method: &str, what: &str, value: &JsValue) -> Result<f64, JsValue> {
    value
        .as_f64()
        .ok_or_else(|| type_error(method, what, "a number", value))
}

/// A boolean argument.
pub(crate) fn boolean(method: &str, what: &str, value: &JsValue) -> Result<bool, JsValue> {
    value
        .as_bool()
        .ok_or_else(|| type_error(method, what, "a boolean", value))
}

/// An optional boolean argument: `undefined` is `None`.
pub(crate) fn optional_boolean(
    method: &str,
    what: &str,
    value: &JsValue,
) -> Result<Option<bool>, JsValue> {
    if value.is_undefined() {
        return Ok(None);
    }
    boolean(method, what, value).map(Some)
}

/// A plain object of strings (`undefined` and `null` are empty), as sorted pairs.
pub(crate) fn string_map(
    method: &str,
    what: &str,
    value: &JsValue,
) -> Result<BTreeMap<String, String>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(BTreeMap::new());
    }
    let object = value
        .dyn_ref::<Object>()
        .filter(|_| !Array::is_array(value) && !value.is_function())
        .ok_or_else(|| type_error(method, what, "a plain object of strings", value))?;
    let mut map = BTreeMap::new();
    for entry in Object::entries(object).iter() {
        let pair = Array::from(&entry);
        let key = pair.get(0).as_string().unwrap_or_default();
        let item = pair.get(1);
        let text = item
            .as_string()
            .ok_or_else(|| type_error(method, &format!("{what}.{key}"), "a string", &item))?;
        map.insert(key, text);
    }
    Ok(map)
}
