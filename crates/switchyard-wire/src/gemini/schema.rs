//! JSON Schema cut down to the OpenAPI-3 subset Gemini's `parameters` and `responseSchema`
//! accept.
//!
//! Gemini answers 400 ("Invalid JSON payload received. Unknown name …") to any keyword outside
//! its subset, so the sanitizer keeps an allow-list of keywords rather than a deny-list: a
//! keyword a client library invents next year is dropped instead of failing the request.

use serde_json::{Map, Value, json};

/// Schema keywords Gemini accepts and that are copied as they are.
const KEPT: &[&str] = &[
    "description",
    "nullable",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "pattern",
    "propertyOrdering",
];

/// String formats Gemini accepts; any other (`uri`, `email`…) is rejected upstream.
const STRING_FORMATS: &[&str] = &["enum", "date-time"];

/// How deep `$ref`s are inlined before the rest is cut; deep enough for real schemas, shallow
/// enough that a pathological one cannot blow the stack or the request size.
const MAX_REF_DEPTH: usize = 8;

/// `schema` in the subset Gemini accepts (see `docs/translation/gemini.md` for every rule).
///
/// Local `$ref`s (`#/$defs/…`, `#/definitions/…`) are inlined and `$defs` dropped; a recursive
/// reference is cut to `{"type":"object"}`. Type arrays become `type` + `nullable`, `const`
/// becomes a one-value `enum`, an `anyOf` member `{"type":"null"}` becomes `nullable`.
pub fn sanitize_schema(schema: &Value) -> Value {
    let mut refs = Vec::new();
    node(schema, schema, &mut refs)
}

/// One schema node. `refs` holds the `$ref`s being inlined above this node, to cut cycles.
fn node(schema: &Value, root: &Value, refs: &mut Vec<String>) -> Value {
    let Some(obj) = schema.as_object() else {
        // `true` / `{}`-like schemas allow anything; Gemini has no word for that.
        return Value::Object(Map::new());
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        return inline_ref(obj, reference, root, refs);
    }
    let mut out = Map::new();
    for key in KEPT {
        if let Some(value) = obj.get(*key) {
            out.insert((*key).to_owned(), value.clone());
        }
    }
    set_type(obj.get("type"), &mut out);
    if let Some(format) = obj.get("format").and_then(Value::as_str) {
        let is_string = out.get("type").and_then(Value::as_str) == Some("string");
        if !is_string || STRING_FORMATS.contains(&format) {
            out.insert("format".into(), json!(format));
        }
    }
    set_enum(obj, &mut out);
    if let Some(Value::Object(props)) = obj.get("properties") {
        let mut kept = Map::new();
        for (name, prop) in props {
            kept.insert(name.clone(), node(prop, root, refs));
        }
        if let Some(Value::Array(required)) = obj.get("required") {
            // Gemini rejects a `required` name that is not a property.
            let names: Vec<Value> = required
                .iter()
                .filter(|r| r.as_str().is_some_and(|r| kept.contains_key(r)))
                .cloned()
                .collect();
            if !names.is_empty() {
                out.insert("required".into(), Value::Array(names));
            }
        }
        out.insert("properties".into(), Value::Object(kept));
    }
    match obj.get("items") {
        Some(items @ Value::Object(_)) => {
            out.insert("items".into(), node(items, root, refs));
        }
        // Tuple validation: Gemini has one item schema; the first is the best guess.
        Some(Value::Array(items)) if !items.is_empty() => {
            out.insert("items".into(), node(&items[0], root, refs));
        }
        _ => {}
    }
    let alternatives = obj.get("anyOf").or_else(|| obj.get("oneOf"));
    if let Some(Value::Array(members)) = alternatives {
        set_any_of(members, root, refs, &mut out);
    }
    if let Some(Value::Array(members)) = obj.get("allOf") {
        // Pydantic wraps a described `$ref` in a one-member `allOf`; merge the members in.
        for member in members {
            if let Value::Object(merged) = node(member, root, refs) {
                for (key, value) in merged {
                    out.entry(key).or_insert(value);
                }
            }
        }
    }
    Value::Object(out)
}

/// `type`, with a type array such as `["string","null"]` turned into `type` + `nullable`.
fn set_type(value: Option<&Value>, out: &mut Map<String, Value>) {
    match value {
        Some(Value::String(kind)) if kind == "null" => {
            out.insert("nullable".into(), json!(true));
        }
        Some(Value::String(kind)) => {
            out.insert("type".into(), json!(kind));
        }
        Some(Value::Array(kinds)) => {
            let named: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            let real: Vec<&str> = named.iter().copied().filter(|k| *k != "null").collect();
            if real.len() != named.len() {
                out.insert("nullable".into(), json!(true));
            }
            match real.as_slice() {
                [] => {}
                [one] => {
                    out.insert("type".into(), json!(one));
                }
                many => {
                    let members: Vec<Value> = many.iter().map(|k| json!({ "type": k })).collect();
                    out.insert("anyOf".into(), Value::Array(members));
                }
            }
        }
        _ => {}
    }
}

/// `enum` (strings only: Gemini enums are a string format) and `const` as a one-value enum.
fn set_enum(obj: &Map<String, Value>, out: &mut Map<String, Value>) {
    let values: Option<Vec<Value>> = match (obj.get("enum"), obj.get("const")) {
        (Some(Value::Array(values)), _) => Some(values.clone()),
        (None, Some(value)) => Some(vec![value.clone()]),
        _ => None,
    };
    let Some(values) = values else { return };
    // `null` in an enum means "nullable"; any other non-string makes the enum unusable.
    let strings: Vec<Value> = values.iter().filter(|v| v.is_string()).cloned().collect();
    let non_null = values.iter().filter(|v| !v.is_null()).count();
    if !strings.is_empty() && strings.len() == non_null {
        if non_null != values.len() {
            out.insert("nullable".into(), json!(true));
        }
        out.entry("type").or_insert_with(|| json!("string"));
        out.insert("enum".into(), Value::Array(strings));
    }
}

/// `anyOf` without its `{"type":"null"}` member (which becomes `nullable`); a single member left
/// is merged into the node itself.
fn set_any_of(
    members: &[Value],
    root: &Value,
    refs: &mut Vec<String>,
    out: &mut Map<String, Value>,
) {
    let mut kept = Vec::new();
    for member in members {
        if member.get("type").and_then(Value::as_str) == Some("null") {
            out.insert("nullable".into(), json!(true));
        } else {
            kept.push(node(member, root, refs));
        }
    }
    match kept.len() {
        0 => {}
        1 => {
            if let Some(Value::Object(only)) = kept.pop() {
                for (key, value) in only {
                    out.entry(key).or_insert(value);
                }
            }
        }
        _ => {
            out.insert("anyOf".into(), Value::Array(kept));
        }
    }
}

/// The schema `reference` points at, sanitized, with the referring node's own keywords
/// (usually a `description`) laid over it.
fn inline_ref(
    obj: &Map<String, Value>,
    reference: &str,
    root: &Value,
    refs: &mut Vec<String>,
) -> Value {
    let target = reference
        .strip_prefix("#/$defs/")
        .map(|name| ("$defs", name))
        .or_else(|| {
            reference
                .strip_prefix("#/definitions/")
                .map(|name| ("definitions", name))
        })
        .and_then(|(section, name)| root.get(section)?.get(name));
    let cut = refs.len() >= MAX_REF_DEPTH || refs.iter().any(|r| r == reference);
    let mut resolved = match target {
        Some(target) if !cut => {
            refs.push(reference.to_owned());
            let value = node(target, root, refs);
            refs.pop();
            value
        }
        // A cycle, a depth overrun or a reference we cannot resolve: an untyped object.
        _ => json!({ "type": "object" }),
    };
    let mut siblings = obj.clone();
    siblings.remove("$ref");
    if let (Value::Object(out), Value::Object(own)) =
        (&mut resolved, node(&Value::Object(siblings), root, refs))
    {
        for (key, value) in own {
            out.insert(key, value);
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keywords_are_dropped_but_property_names_are_not() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "title": {"type": "string", "default": "x", "examples": ["y"]},
                "default": {"type": "integer", "format": "int32"}
            },
            "required": ["title", "missing"]
        });
        assert_eq!(
            sanitize_schema(&schema),
            json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "default": {"type": "integer", "format": "int32"}
                },
                "required": ["title"]
            })
        );
    }

    #[test]
    fn type_arrays_and_null_members_become_nullable() {
        assert_eq!(
            sanitize_schema(&json!({"type": ["string", "null"]})),
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(
            sanitize_schema(&json!({"anyOf": [{"type": "integer"}, {"type": "null"}]})),
            json!({"type": "integer", "nullable": true})
        );
        assert_eq!(
            sanitize_schema(&json!({"type": ["string", "integer"]})),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
    }

    #[test]
    fn const_becomes_enum_for_strings_only() {
        assert_eq!(
            sanitize_schema(&json!({"const": "celsius"})),
            json!({"type": "string", "enum": ["celsius"]})
        );
        assert_eq!(
            sanitize_schema(&json!({"type": "integer", "const": 3})),
            json!({"type": "integer"})
        );
        assert_eq!(
            sanitize_schema(&json!({"type": "integer", "enum": [1, 2]})),
            json!({"type": "integer"})
        );
    }

    #[test]
    fn string_formats_outside_the_subset_are_dropped() {
        assert_eq!(
            sanitize_schema(&json!({"type": "string", "format": "uri"})),
            json!({"type": "string"})
        );
        assert_eq!(
            sanitize_schema(&json!({"type": "string", "format": "date-time"})),
            json!({"type": "string", "format": "date-time"})
        );
    }

    #[test]
    fn refs_are_inlined_and_cycles_cut() {
        let schema = json!({
            "type": "object",
            "properties": {
                "home": {"$ref": "#/$defs/Place", "description": "where you live"},
                "node": {"$ref": "#/definitions/Node"}
            },
            "$defs": {"Place": {"type": "object", "title": "Place", "properties": {"city": {"type": "string"}}}},
            "definitions": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node"}}}}
        });
        assert_eq!(
            sanitize_schema(&schema),
            json!({
                "type": "object",
                "properties": {
                    "home": {"type": "object", "description": "where you live", "properties": {"city": {"type": "string"}}},
                    "node": {"type": "object", "properties": {"next": {"type": "object"}}}
                }
            })
        );
    }

    #[test]
    fn items_recurse_and_non_objects_do_not_panic() {
        assert_eq!(
            sanitize_schema(
                &json!({"type": "array", "items": {"type": "string", "$comment": "c"}})
            ),
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(sanitize_schema(&json!(true)), json!({}));
        assert_eq!(
            sanitize_schema(&json!({"$ref": "#/nowhere"})),
            json!({"type": "object"})
        );
    }
}
