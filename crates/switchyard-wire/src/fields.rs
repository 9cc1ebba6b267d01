//! A JSON object read one level deep: each top-level field as a raw, unparsed JSON slice.
//!
//! This is the cheap path for forwarding a request: serde_json still validates the whole text,
//! but builds no tree, and unchanged fields are written back exactly as they came.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The top-level fields of a JSON object in their original order.
#[derive(Debug)]
pub struct RawFields<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

/// Why a body is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// serde_json's description, with line and column.
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<'a> RawFields<'a> {
    /// Reads `body` as a JSON object. Fails with a message naming line and column.
    pub fn parse(body: &'a [u8]) -> Result<Self, JsonError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(JsonError {
                message: "the request body is empty; send a JSON object".into(),
            });
        }
        serde_json::from_slice::<RawFields<'a>>(body).map_err(|e| JsonError {
            message: if e.is_data() && e.to_string().starts_with("invalid type") {
                format!("the request body must be a JSON object ({e})")
            } else {
                format!("the request body is not valid JSON: {e}")
            },
        })
    }

    /// The raw JSON of field `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// Whether field `name` is present and not `null`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.get() != "null")
    }

    /// Field `name` read as `T`. `Ok(None)` when absent or `null`; `Err` names the field.
    pub fn typed<T: Deserialize<'a>>(
        &self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => serde_json::from_str(raw.get())
                .map(Some)
                .map_err(|_| FieldError {
                    field: name.to_owned(),
                    message: format!("`{name}` must be {expected}"),
                }),
        }
    }

    /// Writes the object back with some fields replaced or added. `replace` pairs a field
    /// name with its new raw JSON; a replaced field keeps its position, a new one goes last.
    pub fn write_with(&self, replace: &[(&str, &str)]) -> Vec<u8> {
        self.write_edited(replace, &[])
    }

    /// Like [`RawFields::write_with`], and leaves out the fields named in `remove`.
    pub fn write_edited(&self, replace: &[(&str, &str)], remove: &[&str]) -> Vec<u8> {
        let approx: usize = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(approx + 64);
        out.push(b'{');
        let mut first = true;
        let mut push = |out: &mut Vec<u8>, key: &str, value: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(out, key);
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        };
        for (key, value) in &self.fields {
            if remove.contains(&key.as_ref()) {
                continue;
            }
            let value = replace
                .iter()
                .find(|(name, _)| name == key)
                .map_or(value.get(), |(_, new)| *new);
            push(&mut out, key, value);
        }
        for (name, value) in replace {
            if !self.fields.iter().any(|(k, _)| k == name) {
                push(&mut out, name, value);
            }
        }
        out.push(b'}');
        out
    }
}

/// A field with the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Writes `text` as a JSON string literal.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // serde_json's writer cannot fail on a Vec.
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_json_string(&mut out, text);
    String::from_utf8(out).unwrap_or_default()
}

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FieldsVisitor<'a> {
            type Value = RawFields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(RawFields { fields })
            }
        }
        deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}

/// The top-level `usage` object of a whole response body, typed as the format spells it, read
/// without building a tree (everything else is skipped). `None` when the body is not JSON or
/// has no usage.
pub(crate) fn top_level_usage<U: serde::de::DeserializeOwned>(body: &[u8]) -> Option<U> {
    #[derive(serde::Deserialize)]
    #[serde(bound = "U: serde::de::DeserializeOwned")]
    struct Response<U> {
        #[serde(default = "Option::default")]
        usage: Option<U>,
    }
    serde_json::from_slice::<Response<U>>(body).ok()?.usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rewrites_one_field_and_keeps_the_rest_verbatim() {
        let body = br#"{"model":"alias","messages":[{"role":"user","content":"hi \u00e9"}],"temperature":0.70}"#;
        let fields = RawFields::parse(body).unwrap();
        let out = fields.write_with(&[
            ("model", "\"upstream\""),
            ("stream_options", r#"{"include_usage":true}"#),
        ]);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"model":"upstream","messages":[{"role":"user","content":"hi \u00e9"}],"temperature":0.70,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn errors_say_where() {
        let err = RawFields::parse(br#"{"model": "x",}"#).unwrap_err();
        assert!(err.message.contains("line 1 column"), "{}", err.message);
        let err = RawFields::parse(b"[1,2]").unwrap_err();
        assert!(err.message.contains("JSON object"), "{}", err.message);
        let err = RawFields::parse(b"  ").unwrap_err();
        assert!(err.message.contains("empty"), "{}", err.message);
    }

    #[test]
    fn escaped_keys_survive() {
        let body = br#"{"we\"ird":1,"model":"m"}"#;
        let fields = RawFields::parse(body).unwrap();
        let out = fields.write_with(&[]);
        let a: serde_json::Value = serde_json::from_slice(body).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(a, b);
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Reading and writing back any object without replacements changes nothing.
        #[test]
        fn round_trip_is_identity(map in prop::collection::btree_map(".*", json_value(), 0..6)) {
            let original = serde_json::Value::Object(map.into_iter().collect());
            let text = serde_json::to_vec(&original).unwrap();
            let fields = RawFields::parse(&text).unwrap();
            let back: serde_json::Value = serde_json::from_slice(&fields.write_with(&[])).unwrap();
            prop_assert_eq!(back, original);
        }

        /// Arbitrary bytes never panic the reader.
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = RawFields::parse(&bytes);
        }
    }
}
