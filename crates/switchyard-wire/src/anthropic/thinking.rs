//! Anthropic thinking blocks in the neutral form, including the redacted kind.
//!
//! A `thinking` block becomes [`Thinking`] with an Anthropic [`Signature`]. A
//! `redacted_thinking` block has no text, only an encrypted `data` string that must be replayed
//! verbatim; it becomes a [`Thinking`] with empty text whose signature value is `data` behind
//! [`REDACTED_MARK`]. Real signatures are base64, which never contains `:`, so the mark cannot
//! be confused with one, and only this module's encoders (Anthropic, the issuer) ever read it.

use crate::neutral::{Signature, Thinking, Vendor};

/// Prefix of a signature value that stands for a `redacted_thinking` block's `data`.
pub const REDACTED_MARK: &str = "redacted_thinking:";

/// The Anthropic signature of a `thinking` block; an empty one counts as none.
pub fn signed(signature: &str) -> Option<Signature> {
    (!signature.is_empty()).then(|| Signature {
        vendor: Vendor::Anthropic,
        value: signature.to_owned(),
    })
}

/// A `redacted_thinking` block's `data` as neutral thinking.
pub fn redacted(data: &str) -> Thinking {
    Thinking {
        text: String::new(),
        signature: Some(redacted_signature(data)),
    }
}

/// The signature that marks redacted thinking.
pub fn redacted_signature(data: &str) -> Signature {
    Signature {
        vendor: Vendor::Anthropic,
        value: format!("{REDACTED_MARK}{data}"),
    }
}

/// How a neutral signature goes back to Anthropic.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay<'a> {
    /// A `thinking` block with this signature.
    Signed(&'a str),
    /// A `redacted_thinking` block with this `data`.
    Redacted(&'a str),
    /// Not Anthropic's (or absent): never sent to Anthropic.
    Foreign,
}

pub fn replay(signature: Option<&Signature>) -> Replay<'_> {
    match signature {
        Some(Signature {
            vendor: Vendor::Anthropic,
            value,
        }) => match value.strip_prefix(REDACTED_MARK) {
            Some(data) => Replay::Redacted(data),
            None => Replay::Signed(value),
        },
        _ => Replay::Foreign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_data_survives_and_is_told_apart() {
        let t = redacted("EmwKAhgB");
        assert_eq!(replay(t.signature.as_ref()), Replay::Redacted("EmwKAhgB"));
        let s = signed("ErUBCkYI").unwrap();
        assert_eq!(replay(Some(&s)), Replay::Signed("ErUBCkYI"));
        assert_eq!(signed(""), None);
        let gemini = Signature {
            vendor: Vendor::Gemini,
            value: "abc".into(),
        };
        assert_eq!(replay(Some(&gemini)), Replay::Foreign);
        assert_eq!(replay(None), Replay::Foreign);
    }
}
