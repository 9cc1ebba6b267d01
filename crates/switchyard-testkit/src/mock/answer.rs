//! The decision every dialect shares: what the mock answers to a conversation.
//!
//! Each dialect (`chat`, `anthropic`, `gemini`) validates its own request shape and reduces it to
//! an [`Ask`]: the model, the turns as plain text, the offered tools, whether parallel calls are
//! allowed, the output limit and any stop sequences. [`decide`] turns that into one neutral [`Answer`], which each dialect then
//! renders in its own JSON and streaming shapes. Keeping the decision in one place is what lets a
//! gateway test compare dialects: the same conversation gets the same words and token counts
//! whichever wire format carried it.

/// Output tokens billed for each tool call, whatever its arguments.
const TOOL_CALL_TOKENS: u64 = 8;
/// Reasoning tokens reported by models named `reasoning-*`; every other model reports none.
/// OpenAI counts them inside `completion_tokens`, Anthropic inside `output_tokens`, Gemini apart
/// from `candidatesTokenCount` as `thoughtsTokenCount`.
pub const REASONING_TOKENS: u64 = 1_000;
/// Cached prompt tokens reported by models named `cache-*`, as if a cached prefix of this many
/// tokens preceded the request's words. OpenAI and Gemini count them inside the prompt total;
/// Anthropic reports them apart from `input_tokens`, as `cache_read_input_tokens`.
pub const CACHED_TOKENS: u64 = 10;
/// The arguments of every mock tool call, and the pieces they stream in.
const TOOL_ARGUMENT_PIECES: [&str; 2] = ["{\"city\":", "\"Oslo\"}"];

/// Who spoke a turn, reduced to what the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// System or developer instructions, wherever the dialect puts them.
    System,
    User,
    Assistant,
    /// Tool results: OpenAI's `tool` messages, and the user turns that carry Anthropic's
    /// `tool_result` blocks or Gemini's `functionResponse` parts.
    Tool,
}

/// One turn of the conversation as plain text.
#[derive(Debug)]
pub(crate) struct Turn {
    pub(crate) role: Role,
    /// The turn's words that count as prompt tokens, joined by spaces.
    pub(crate) text: String,
}

/// The part of a request the answer depends on, whatever dialect carried it.
#[derive(Debug)]
pub(crate) struct Ask {
    pub(crate) model: String,
    pub(crate) turns: Vec<Turn>,
    /// The names of the tools offered, in order; empty when tool use was switched off.
    pub(crate) tools: Vec<String>,
    /// Whether the answer may make more than one tool call. OpenAI's `parallel_tool_calls:false`
    /// and Anthropic's `disable_parallel_tool_use:true` turn it off; Gemini has no such switch.
    pub(crate) parallel: bool,
    /// The most output words the answer may have.
    pub(crate) limit: Option<u64>,
    /// Stop sequences; a word of the answer equal to one of them ends the answer before it.
    pub(crate) stop: Vec<String>,
}

/// Why the answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The answer is complete.
    Complete,
    /// The output limit cut it short.
    Length,
    /// A stop sequence cut it short; the sequence that matched.
    StopSequence(String),
    /// The answer is one or more tool calls.
    ToolCall,
}

/// A tool call, without the id each dialect gives it (or does not).
#[derive(Debug)]
pub(crate) struct ToolCall {
    pub(crate) name: String,
    pub(crate) argument_pieces: &'static [&'static str],
}

impl ToolCall {
    /// The whole arguments as JSON text.
    pub(crate) fn arguments(&self) -> String {
        self.argument_pieces.concat()
    }

    /// The arguments as a JSON value, for dialects that send an object.
    pub(crate) fn arguments_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.arguments()).unwrap_or_default()
    }
}

/// Token counts, in the neutral form each dialect converts to its own usage object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tokens {
    /// Words of the request, not counting the cached prefix.
    pub(crate) input: u64,
    /// The cached prefix ([`CACHED_TOKENS`] for `cache-*` models, else 0).
    pub(crate) cached: u64,
    /// Visible output: the words answered, or [`TOOL_CALL_TOKENS`] per tool call.
    pub(crate) output: u64,
    /// Hidden reasoning ([`REASONING_TOKENS`] for `reasoning-*` models, else 0).
    pub(crate) reasoning: u64,
}

/// The mock's answer to one request, before a dialect renders it.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The text, in the pieces it streams in (one word each, spaces leading).
    pub(crate) pieces: Vec<String>,
    /// The tool calls, in order; empty for a text answer. Each dialect numbers them from 0 for
    /// its ids and stream indexes.
    pub(crate) tool_calls: Vec<ToolCall>,
    pub(crate) finish: Finish,
    pub(crate) tokens: Tokens,
}

impl Answer {
    /// The whole text.
    pub(crate) fn text(&self) -> String {
        self.pieces.concat()
    }
}

impl Ask {
    /// Every word of every turn: the request's prompt tokens.
    pub(crate) fn prompt_tokens(&self) -> u64 {
        self.turns.iter().map(|turn| word_count(&turn.text)).sum()
    }

    /// Words of the last user turn, the answer's topic.
    fn last_user_words(&self) -> Vec<&str> {
        self.turns
            .iter()
            .rev()
            .find(|turn| turn.role == Role::User)
            .map(|turn| turn.text.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// The text of the last turn, lowercased, if the conversation ends with a user turn.
    fn last_user_turn(&self) -> Option<String> {
        self.turns
            .last()
            .filter(|turn| turn.role == Role::User)
            .map(|turn| turn.text.to_lowercase())
    }

    /// The tools the answer calls: the first when the conversation ends with a user turn
    /// mentioning "weather", and also the second when that turn has the word "time" and parallel
    /// calls are allowed.
    fn tools_to_call(&self) -> Vec<&str> {
        let Some(last) = self
            .last_user_turn()
            .filter(|text| text.contains("weather"))
        else {
            return Vec::new();
        };
        // "time" must be a word of its own, so "sometimes" or "timeout" do not trigger a call.
        let asks_time = last
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word == "time");
        let wanted = if asks_time && self.parallel { 2 } else { 1 };
        self.tools.iter().take(wanted).map(String::as_str).collect()
    }
}

pub(crate) fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// "Mock answer to: <first 5 words of the last user turn>", or a call to the first tool when the
/// last turn is a user turn mentioning "weather", plus a call to the second tool when that turn
/// also has the word "time" and parallel calls are allowed.
pub(crate) fn decide(ask: &Ask) -> Answer {
    let cached = if super::faults::behaves_as(&ask.model).starts_with("cache-") {
        CACHED_TOKENS
    } else {
        0
    };
    let mut tokens = Tokens {
        input: ask.prompt_tokens(),
        cached,
        output: 0,
        reasoning: 0,
    };
    let tool_calls: Vec<ToolCall> = ask
        .tools_to_call()
        .into_iter()
        .map(|name| ToolCall {
            name: name.to_owned(),
            argument_pieces: &TOOL_ARGUMENT_PIECES,
        })
        .collect();
    if !tool_calls.is_empty() {
        tokens.output = TOOL_CALL_TOKENS * tool_calls.len() as u64;
        return Answer {
            pieces: Vec::new(),
            tool_calls,
            finish: Finish::ToolCall,
            tokens,
        };
    }

    let topic: Vec<&str> = ask.last_user_words().into_iter().take(5).collect();
    let topic = if topic.is_empty() {
        "nothing".to_owned()
    } else {
        topic.join(" ")
    };
    let text = format!("Mock answer to: {topic}");
    let mut pieces: Vec<String> = text
        .split(' ')
        .enumerate()
        .map(|(at, word)| {
            if at == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect();
    let mut finish = Finish::Complete;
    let stopped_at = pieces.iter().position(|piece| {
        ask.stop
            .iter()
            .any(|stop| !stop.trim().is_empty() && piece.trim() == stop.trim())
    });
    if let Some(at) = stopped_at {
        finish = Finish::StopSequence(pieces[at].trim().to_owned());
        pieces.truncate(at);
    }
    if let Some(limit) = ask.limit.and_then(|limit| usize::try_from(limit).ok())
        && limit < pieces.len()
    {
        pieces.truncate(limit);
        finish = Finish::Length;
    }
    tokens.output = pieces.len() as u64;
    if super::faults::behaves_as(&ask.model).starts_with("reasoning-") {
        tokens.reasoning = REASONING_TOKENS;
    }
    Answer {
        pieces,
        tool_calls: Vec::new(),
        finish,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(model: &str, turns: Vec<(Role, &str)>) -> Ask {
        Ask {
            model: model.to_owned(),
            turns: turns
                .into_iter()
                .map(|(role, text)| Turn {
                    role,
                    text: text.to_owned(),
                })
                .collect(),
            tools: vec!["get_weather".to_owned(), "get_time".to_owned()],
            parallel: true,
            limit: None,
            stop: Vec::new(),
        }
    }

    #[test]
    fn answers_the_first_five_words_of_the_last_user_turn() {
        let answer = decide(&ask(
            "m",
            vec![
                (Role::System, "be brief"),
                (Role::User, "one two three four five six"),
            ],
        ));
        assert_eq!(answer.text(), "Mock answer to: one two three four five");
        assert_eq!(answer.finish, Finish::Complete);
        assert_eq!(answer.tokens.input, 8);
        assert_eq!(answer.tokens.output, 8);
    }

    #[test]
    fn weather_calls_the_tool_only_when_the_user_spoke_last() {
        let asked = decide(&ask("m", vec![(Role::User, "Weather in Oslo?")]));
        assert_eq!(asked.finish, Finish::ToolCall);
        let answered = decide(&ask(
            "m",
            vec![(Role::User, "Weather in Oslo?"), (Role::Tool, "3°C")],
        ));
        assert_eq!(answered.text(), "Mock answer to: Weather in Oslo?");
    }

    #[test]
    fn weather_and_time_call_the_first_two_tools_unless_parallel_calls_are_off() {
        let names = |answer: &Answer| -> Vec<String> {
            answer
                .tool_calls
                .iter()
                .map(|call| call.name.clone())
                .collect()
        };
        let mut both = ask("m", vec![(Role::User, "Weather and time in Oslo?")]);
        let answer = decide(&both);
        assert_eq!(names(&answer), ["get_weather", "get_time"]);
        assert_eq!(answer.tokens.output, 16);
        both.parallel = false;
        let answer = decide(&both);
        assert_eq!(names(&answer), ["get_weather"]);
        assert_eq!(answer.tokens.output, 8);
        both.parallel = true;
        both.tools.truncate(1);
        assert_eq!(names(&decide(&both)), ["get_weather"]);
        let sometimes = decide(&ask(
            "m",
            vec![(Role::User, "Is the weather sometimes odd?")],
        ));
        assert_eq!(names(&sometimes), ["get_weather"]);
        let time_only = decide(&ask("m", vec![(Role::User, "What time is it?")]));
        assert!(time_only.tool_calls.is_empty());
    }

    #[test]
    fn stop_sequences_then_limits_cut_the_answer() {
        let mut stopped = ask("m", vec![(Role::User, "alpha beta")]);
        stopped.stop = vec!["beta".to_owned()];
        let answer = decide(&stopped);
        assert_eq!(answer.text(), "Mock answer to: alpha");
        assert_eq!(answer.finish, Finish::StopSequence("beta".to_owned()));
        stopped.limit = Some(2);
        assert_eq!(decide(&stopped).finish, Finish::Length);
    }

    #[test]
    fn model_prefixes_add_cached_and_reasoning_tokens() {
        let cached = decide(&ask("cache-x", vec![(Role::User, "hi")]));
        assert_eq!((cached.tokens.cached, cached.tokens.reasoning), (10, 0));
        let reasoning = decide(&ask("reasoning-x", vec![(Role::User, "hi")]));
        assert_eq!(
            (reasoning.tokens.cached, reasoning.tokens.reasoning),
            (0, 1_000)
        );
    }
}
