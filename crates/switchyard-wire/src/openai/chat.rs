//! OpenAI Chat Completions: to and from the neutral form. (In progress.)
