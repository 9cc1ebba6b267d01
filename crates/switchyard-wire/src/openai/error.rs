//! OpenAI's error body, in both the nested shape and the flat shape some compatible servers
//! (Mistral, some vLLM versions) send.

use serde::{Deserialize, Serialize};

/// `{"error": {...}}`, what we send to OpenAI-dialect clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// What an upstream's error body says, whatever its shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamErrorInfo {
    pub message: Option<String>,
    pub kind: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
}

#[derive(Deserialize)]
struct Loose {
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    kind: Option<serde_json::Value>,
    #[serde(default)]
    param: Option<serde_json::Value>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

fn text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl UpstreamErrorInfo {
    /// Reads an upstream error body: `{"error":{...}}`, `{"error":"text"}`, or the flat
    /// `{"object":"error","message":...}`. Anything else yields an empty info.
    pub fn parse(body: &[u8]) -> UpstreamErrorInfo {
        let Ok(loose) = serde_json::from_slice::<Loose>(body) else {
            return UpstreamErrorInfo::default();
        };
        match &loose.error {
            Some(serde_json::Value::Object(inner)) => UpstreamErrorInfo {
                message: text(inner.get("message")),
                kind: text(inner.get("type")),
                param: text(inner.get("param")),
                code: text(inner.get("code")),
            },
            Some(serde_json::Value::String(s)) => UpstreamErrorInfo {
                message: Some(s.clone()),
                ..UpstreamErrorInfo::default()
            },
            _ => UpstreamErrorInfo {
                message: text(loose.message.as_ref()),
                kind: text(loose.kind.as_ref()),
                param: text(loose.param.as_ref()),
                code: text(loose.code.as_ref()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_flat_shapes() {
        let nested = br#"{"error":{"message":"too long","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let info = UpstreamErrorInfo::parse(nested);
        assert_eq!(info.message.as_deref(), Some("too long"));
        assert_eq!(info.code.as_deref(), Some("context_length_exceeded"));
        let flat = br#"{"object":"error","message":"bad","type":"invalid_request_error","param":null,"code":null}"#;
        let info = UpstreamErrorInfo::parse(flat);
        assert_eq!(info.message.as_deref(), Some("bad"));
        assert_eq!(info.code, None);
        assert_eq!(
            UpstreamErrorInfo::parse(b"<html>"),
            UpstreamErrorInfo::default()
        );
        let numeric = br#"{"error":{"message":"x","code":429}}"#;
        assert_eq!(
            UpstreamErrorInfo::parse(numeric).code.as_deref(),
            Some("429")
        );
    }
}
