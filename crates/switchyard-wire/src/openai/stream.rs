//! Reading the chunks of an OpenAI chat stream: what a pass-through must notice.

use super::usage::WireUsage;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The parts of a `chat.completion.chunk` the gateway inspects.
#[derive(Debug, Default, Deserialize)]
pub struct ChunkPeek<'a> {
    /// `null` or absent (vLLM) count as empty.
    #[serde(default, borrow)]
    pub choices: Option<Vec<ChoicePeek<'a>>>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// An in-band error sent after the response head.
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChoicePeek<'a> {
    #[serde(default, borrow)]
    pub delta: Option<DeltaPeek<'a>>,
    #[serde(default)]
    pub finish_reason: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DeltaPeek<'a> {
    #[serde(default, borrow)]
    pub content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCallPeek<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ToolCallPeek<'a> {
    #[serde(default, borrow)]
    pub function: Option<FunctionPeek<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FunctionPeek<'a> {
    #[serde(default, borrow)]
    pub name: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    pub arguments: Option<std::borrow::Cow<'a, str>>,
}

/// What one SSE `data:` payload of a chat stream means to the gateway.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// `[DONE]`.
    Done,
    /// A chunk that carries choices (and maybe usage).
    Chunk(ChunkPeek<'a>),
    /// The usage-only chunk (`choices: []` plus `usage`), sent because we asked for it.
    UsageOnly(ChunkPeek<'a>),
    /// Not JSON we understand; forwarded as is.
    Opaque,
}

impl<'a> StreamEvent<'a> {
    pub fn classify(data: &'a str) -> StreamEvent<'a> {
        if data.trim() == "[DONE]" {
            return StreamEvent::Done;
        }
        match serde_json::from_str::<ChunkPeek<'a>>(data) {
            Ok(chunk) => {
                let no_choices = chunk.choices.as_ref().is_none_or(Vec::is_empty);
                if no_choices && chunk.usage.is_some() && chunk.error.is_none() {
                    StreamEvent::UsageOnly(chunk)
                } else {
                    StreamEvent::Chunk(chunk)
                }
            }
            Err(_) => StreamEvent::Opaque,
        }
    }
}

impl ChunkPeek<'_> {
    /// Appends the generated text of this chunk (content, reasoning, tool names and
    /// arguments) to `out`, for counting tokens when the upstream reports no usage.
    pub fn collect_text(&self, out: &mut String) {
        for choice in self.choices.iter().flatten() {
            let Some(delta) = &choice.delta else { continue };
            if let Some(text) = &delta.content {
                out.push_str(text);
            }
            if let Some(text) = &delta.reasoning_content {
                out.push_str(text);
            }
            for call in delta.tool_calls.iter().flatten() {
                if let Some(f) = &call.function {
                    if let Some(name) = &f.name {
                        out.push_str(name);
                    }
                    if let Some(args) = &f.arguments {
                        out.push_str(args);
                    }
                }
            }
        }
    }

    /// Whether this chunk carries any generated output.
    pub fn has_output(&self) -> bool {
        let mut text = String::new();
        self.collect_text(&mut text);
        !text.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_chunks() {
        assert!(matches!(StreamEvent::classify("[DONE]"), StreamEvent::Done));
        let usage = r#"{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        assert!(matches!(
            StreamEvent::classify(usage),
            StreamEvent::UsageOnly(_)
        ));
        let vllm = r#"{"id":"c","choices":null,"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        assert!(matches!(
            StreamEvent::classify(vllm),
            StreamEvent::UsageOnly(_)
        ));
        let content =
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"Hel\"lo"}}],"usage":null}"#;
        match StreamEvent::classify(content) {
            StreamEvent::Chunk(c) => {
                let mut s = String::new();
                c.collect_text(&mut s);
                assert_eq!(s, "Hel\"lo");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            StreamEvent::classify("garbage"),
            StreamEvent::Opaque
        ));
    }

    #[test]
    fn collects_tool_call_arguments() {
        let chunk = r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#;
        let StreamEvent::Chunk(c) = StreamEvent::classify(chunk) else {
            panic!()
        };
        let mut s = String::new();
        c.collect_text(&mut s);
        assert_eq!(s, "{\"city\":");
    }
}
