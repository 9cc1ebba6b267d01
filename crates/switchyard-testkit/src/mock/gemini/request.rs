//! Validating a `GenerateContentRequest` the way Gemini does (wire-formats §5.1) and reducing it
//! to the neutral [`Ask`]. Every field is looked up in camelCase and then in snake_case, since
//! Gemini accepts both; paths in messages use snake_case, as Gemini's own messages do.

use serde_json::{Map, Value};

use super::error::Error;
use crate::mock::answer::{Ask, Role, Turn};
use crate::mock::faults;

/// Top-level fields of a `GenerateContentRequest`, in camelCase.
const FIELDS: [&str; 8] = [
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
];

/// Fields of `generationConfig`, in camelCase.
const GENERATION_FIELDS: [&str; 19] = [
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
];

/// JSON Schema keys `parameters` (an OpenAPI subset) does not know.
const UNKNOWN_SCHEMA_KEYS: [&str; 7] = [
    "$schema",
    "additionalProperties",
    "default",
    "const",
    "$ref",
    "$defs",
    "examples",
];

/// The part fields that carry data; a part must hold one.
const PART_DATA: [&str; 7] = [
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];

/// `max_output_tokens` for `maxOutputTokens`.
fn snake(camel: &str) -> String {
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// `maxOutputTokens` for `max_output_tokens`.
fn camel(snake: &str) -> String {
    let mut camel = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    camel
}

/// Field `name` (given in camelCase) of `object`, under either spelling.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .get(name)
        .or_else(|| object.get(&snake(name)))
        .filter(|value| !value.is_null())
}

/// Field `name` of `value`, if `value` is an object.
fn get<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    field(value.as_object()?, name)
}

/// Rejects any key of `object` that is not in `known` under either spelling.
fn known_fields(object: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), Error> {
    match object
        .keys()
        .find(|key| !known.contains(&camel(key).as_str()))
    {
        Some(key) => Err(Error::invalid(format!(
            "Invalid JSON payload received. Unknown name \"{key}\"{at}: Cannot find field."
        ))),
        None => Ok(()),
    }
}

pub(crate) fn parse(model: &str, body: Option<&Value>) -> Result<Ask, Error> {
    let body = body
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid("Invalid JSON payload received. Expected a JSON object."))?;
    known_fields(body, &FIELDS, "")?;
    let contents = match field(body, "contents") {
        Some(Value::Array(contents)) if !contents.is_empty() => contents,
        Some(Value::Array(_)) | None => {
            return Err(Error::invalid(
                "* GenerateContentRequest.contents: contents is not specified",
            ));
        }
        Some(_) => {
            return Err(Error::invalid(
                "Invalid JSON payload received. Unknown name \"contents\": Proto field is \
                 repeating, expected a list.",
            ));
        }
    };

    let mut turns = Vec::with_capacity(contents.len() + 1);
    if let Some(system) = field(body, "systemInstruction") {
        let text = Content::parse(system, "system_instruction", Role::System)?.text;
        turns.push(Turn {
            role: Role::System,
            text,
        });
    }
    let parsed = contents
        .iter()
        .enumerate()
        .map(|(at, content)| {
            let role = match get(content, "role").map(Value::as_str) {
                None | Some(Some("user")) => Role::User,
                Some(Some("model")) => Role::Assistant,
                Some(_) => return Err(Error::invalid("Please use a valid role: user, model.")),
            };
            Content::parse(content, &format!("contents[{at}]"), role)
        })
        .collect::<Result<Vec<_>, _>>()?;
    pair_function_calls(&parsed)?;
    if faults::behaves_as(model).starts_with("gemini-3") {
        signed_function_calls(&parsed)?;
    }
    turns.extend(parsed.into_iter().map(|content| Turn {
        role: content.role,
        text: content.text,
    }));

    let tools = offered_functions(body)?;
    let (limit, stop) = generation_config(body)?;
    Ok(Ask {
        model: model.to_owned(),
        turns,
        tools,
        // Gemini has no switch for parallel calls.
        parallel: true,
        limit,
        stop,
    })
}

/// One content, checked, with what the pairing checks need.
struct Content {
    role: Role,
    text: String,
    function_calls: usize,
    function_responses: usize,
    /// Whether the first `functionCall` part carries a `thoughtSignature`.
    first_call_signed: bool,
}

impl Content {
    fn parse(content: &Value, path: &str, role: Role) -> Result<Content, Error> {
        let parts = match get(content, "parts") {
            Some(Value::Array(parts)) if !parts.is_empty() => parts,
            Some(Value::Array(_)) | None => {
                return Err(Error::invalid(format!(
                    "* GenerateContentRequest.{path}.parts: contents.parts must not be empty."
                )));
            }
            Some(_) => {
                return Err(Error::invalid(format!(
                    "Invalid JSON payload received. Unknown name \"parts\" at '{path}': Proto \
                     field is repeating, expected a list."
                )));
            }
        };
        let mut parsed = Content {
            role,
            text: String::new(),
            function_calls: 0,
            function_responses: 0,
            first_call_signed: false,
        };
        let mut texts = Vec::new();
        for (at, part) in parts.iter().enumerate() {
            let path = format!("{path}.parts[{at}]");
            let Some(part) = part.as_object() else {
                return Err(Error::invalid(format!(
                    "Invalid JSON payload received. Expected an object at '{path}'."
                )));
            };
            let signed = field(part, "thoughtSignature").is_some();
            let data: Vec<&str> = PART_DATA
                .into_iter()
                .filter(|name| field(part, name).is_some())
                .collect();
            match data.as_slice() {
                [_] => {}
                [] => {
                    return Err(Error::invalid(format!(
                        "* GenerateContentRequest.{path}.data: required oneof field 'data' must \
                         have one initialized field"
                    )));
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid value at '{path}' (oneof), oneof field 'data' is already set. \
                         Cannot set '{}'",
                        data[1]
                    )));
                }
            }
            match field(part, "text") {
                // An empty text part may carry only a signature, as Gemini's own last chunk does.
                Some(Value::String(text)) if text.is_empty() && !signed => {
                    return Err(Error::invalid(format!(
                        "Unable to submit request because it has an empty text parameter at \
                         '{path}'. Add a value to the parameter and try again."
                    )));
                }
                Some(Value::String(text)) => texts.push(text.clone()),
                Some(_) => {
                    return Err(Error::invalid(format!(
                        "Invalid value at '{path}.text' (TYPE_STRING)"
                    )));
                }
                None => {}
            }
            if let Some(data) = field(part, "inlineData") {
                let complete = get(data, "mimeType").is_some_and(Value::is_string)
                    && get(data, "data").is_some_and(Value::is_string);
                if !complete {
                    return Err(Error::invalid(format!(
                        "* GenerateContentRequest.{path}.inline_data: mime_type and data are \
                         required"
                    )));
                }
            }
            if let Some(call) = field(part, "functionCall") {
                if !get(call, "name").is_some_and(Value::is_string) {
                    return Err(Error::invalid(format!(
                        "* GenerateContentRequest.{path}.function_call.name: name is not \
                         specified"
                    )));
                }
                if parsed.function_calls == 0 {
                    parsed.first_call_signed = signed;
                }
                parsed.function_calls += 1;
            }
            if let Some(response) = field(part, "functionResponse") {
                match get(response, "response") {
                    Some(Value::Object(object)) => {
                        strings(&Value::Object(object.clone()), &mut texts)
                    }
                    Some(other) => {
                        return Err(Error::invalid(format!(
                            "Invalid value at '{path}.function_response.response' \
                             (type.googleapis.com/google.protobuf.Struct), {other}"
                        )));
                    }
                    None => {
                        return Err(Error::invalid(format!(
                            "* GenerateContentRequest.{path}.function_response.response: \
                             response is not specified"
                        )));
                    }
                }
                parsed.function_responses += 1;
            }
        }
        if parsed.function_responses > 0 {
            parsed.role = Role::Tool;
        }
        parsed.text = texts.join(" ");
        Ok(parsed)
    }
}

/// Every string inside `value`, for counting a function response's words.
fn strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) => into.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, into)),
        Value::Object(fields) => fields.values().for_each(|item| strings(item, into)),
        _ => {}
    }
}

/// A function-call turn must be answered, in the next turn, by as many function responses as it
/// made calls; function responses must follow a function-call turn.
fn pair_function_calls(contents: &[Content]) -> Result<(), Error> {
    for (at, content) in contents.iter().enumerate() {
        let previous_calls = at
            .checked_sub(1)
            .map_or(0, |before| contents[before].function_calls);
        if content.function_responses > 0 && previous_calls == 0 {
            return Err(Error::invalid(
                "Please ensure that function response turn comes immediately after a function \
                 call turn.",
            ));
        }
        if previous_calls > 0 && content.function_responses != previous_calls {
            return Err(Error::invalid(
                "Please ensure that the number of function response parts is equal to the number \
                 of function call parts of the function call turn.",
            ));
        }
    }
    Ok(())
}

/// Gemini 3 refuses a replayed function-call turn whose first call lost its thought signature.
fn signed_function_calls(contents: &[Content]) -> Result<(), Error> {
    for (at, content) in contents.iter().enumerate() {
        if content.function_calls > 0 && !content.first_call_signed {
            return Err(Error::invalid(format!(
                "Function call is missing a thought_signature in functionCall parts at \
                 'contents[{at}]'. Gemini 3 models need the thoughtSignature they returned with \
                 each function call sent back with it."
            )));
        }
    }
    Ok(())
}

/// The declared functions, in order, or none when function calling is `NONE`. Checks every
/// declaration's `parameters` against the OpenAPI subset Gemini accepts.
fn offered_functions(body: &Map<String, Value>) -> Result<Vec<String>, Error> {
    let tools = match field(body, "tools") {
        None => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(_) => {
            return Err(Error::invalid(
                "Invalid JSON payload received. Unknown name \"tools\": Proto field is \
                 repeating, expected a list.",
            ));
        }
    };
    let mut names = Vec::new();
    for (at, tool) in tools.iter().enumerate() {
        let Some(declarations) = get(tool, "functionDeclarations") else {
            continue;
        };
        let Some(declarations) = declarations.as_array() else {
            return Err(Error::invalid(format!(
                "Invalid JSON payload received. Unknown name \"function_declarations\" at \
                 'tools[{at}]': Proto field is repeating, expected a list."
            )));
        };
        for (index, declaration) in declarations.iter().enumerate() {
            let path = format!("tools[{at}].function_declarations[{index}]");
            match get(declaration, "name") {
                Some(Value::String(name)) if !name.is_empty() => names.push(name.clone()),
                _ => {
                    return Err(Error::invalid(format!(
                        "* GenerateContentRequest.{path}.name: name cannot be empty."
                    )));
                }
            }
            if let Some(parameters) = get(declaration, "parameters") {
                schema(parameters, &format!("{path}.parameters"))?;
            }
        }
    }
    let mode = field(body, "toolConfig")
        .and_then(|config| get(config, "functionCallingConfig"))
        .and_then(|config| get(config, "mode"))
        .and_then(Value::as_str);
    if mode == Some("NONE") {
        return Ok(Vec::new());
    }
    Ok(names)
}

/// One schema of the OpenAPI subset: no JSON Schema-only keys, no type arrays.
fn schema(schema: &Value, path: &str) -> Result<(), Error> {
    let Some(object) = schema.as_object() else {
        return Err(Error::invalid(format!(
            "Invalid JSON payload received. Expected an object at '{path}'."
        )));
    };
    for (key, value) in object {
        if UNKNOWN_SCHEMA_KEYS.contains(&key.as_str()) {
            return Err(Error::invalid(format!(
                "Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find \
                 field."
            )));
        }
        if key == "type" && value.is_array() {
            return Err(Error::invalid(format!(
                "Invalid JSON payload received. Unknown name \"type\" at '{path}': Proto field \
                 is not repeating, cannot start list."
            )));
        }
    }
    if let Some(properties) = field(object, "properties").and_then(Value::as_object) {
        for (name, property) in properties {
            self::schema(property, &format!("{path}.properties[{name}]"))?;
        }
    }
    if let Some(items) = field(object, "items") {
        self::schema(items, &format!("{path}.items"))?;
    }
    if let Some(Value::Array(choices)) = field(object, "anyOf") {
        for (at, choice) in choices.iter().enumerate() {
            self::schema(choice, &format!("{path}.any_of[{at}]"))?;
        }
    }
    Ok(())
}

/// `maxOutputTokens` and `stopSequences`, after checking the config's field names and ranges.
fn generation_config(body: &Map<String, Value>) -> Result<(Option<u64>, Vec<String>), Error> {
    let Some(config) = field(body, "generationConfig") else {
        return Ok((None, Vec::new()));
    };
    let Some(config) = config.as_object() else {
        return Err(Error::invalid(
            "Invalid JSON payload received. Expected an object at 'generation_config'.",
        ));
    };
    known_fields(config, &GENERATION_FIELDS, " at 'generation_config'")?;
    let limit = match field(config, "maxOutputTokens") {
        None => None,
        Some(value) => match value.as_i64() {
            Some(n) if n >= 1 => Some(n.unsigned_abs()),
            _ => {
                return Err(Error::invalid(
                    "* GenerateContentRequest.generation_config.max_output_tokens: must be a \
                     positive integer",
                ));
            }
        },
    };
    if let Some(temperature) = field(config, "temperature")
        && !temperature
            .as_f64()
            .is_some_and(|t| (0.0..=2.0).contains(&t))
    {
        return Err(Error::invalid(
            "* GenerateContentRequest.generation_config.temperature: must be between 0 and 2",
        ));
    }
    let stop = match field(config, "stopSequences") {
        None => Vec::new(),
        Some(Value::Array(stops)) if stops.len() > 5 => {
            return Err(Error::invalid(
                "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop \
                 sequences are allowed",
            ));
        }
        Some(Value::Array(stops)) => stops
            .iter()
            .filter_map(|stop| stop.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            return Err(Error::invalid(
                "Invalid JSON payload received. Unknown name \"stop_sequences\" at \
                 'generation_config': Proto field is repeating, expected a list.",
            ));
        }
    };
    Ok((limit, stop))
}

#[cfg(test)]
mod tests {
    use super::{camel, snake};

    #[test]
    fn field_names_convert_both_ways() {
        assert_eq!(snake("maxOutputTokens"), "max_output_tokens");
        assert_eq!(camel("system_instruction"), "systemInstruction");
        assert_eq!(camel("contents"), "contents");
    }
}
