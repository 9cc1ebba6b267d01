//! Typed reads of one field of a client's JSON object, each failing with a [`RequestError`]
//! that names the field by its full path (`messages[2].content`) and says what was expected.

use crate::neutral::invalid;
use crate::openai::RequestError;
use serde_json::{Map, Value};

/// A JSON object and the path that leads to it (`""` at the top, `"messages[2]."` inside).
#[derive(Clone, Debug)]
pub(super) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub at: String,
}

impl<'a> Obj<'a> {
    /// The full path of field `key`, for error messages.
    pub fn path(&self, key: &str) -> String {
        format!("{}{key}", self.at)
    }

    /// Field `key`, treating `null` as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, what: &str, got: &Value) -> RequestError {
        let path = self.path(key);
        invalid(
            &path,
            format!("`{path}` must be {what}, not {}", type_name(got)),
        )
    }

    pub fn str(&self, key: &str) -> Result<Option<&'a str>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub fn required_str(&self, key: &str, what: &str) -> Result<&'a str, RequestError> {
        self.str(key)?.ok_or_else(|| {
            let path = self.path(key);
            invalid(&path, format!("you must provide `{path}` ({what})"))
        })
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a non-negative integer", v)),
        }
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer", v)),
        }
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a number", v)),
        }
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// Field `key` as an object.
    pub fn object(&self, key: &str) -> Result<Option<Obj<'a>>, RequestError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                at: format!("{}{key}.", self.at),
            })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }
}

/// `value` as an object at `path` (which names it in errors).
pub(super) fn object_at<'a>(value: &'a Value, path: &str) -> Result<Obj<'a>, RequestError> {
    match value {
        Value::Object(map) => Ok(Obj {
            map,
            at: format!("{path}."),
        }),
        other => Err(invalid(
            path,
            format!("`{path}` must be an object, not {}", type_name(other)),
        )),
    }
}

/// How a JSON value's type is named in error messages.
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
