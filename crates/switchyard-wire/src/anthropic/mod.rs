//! Anthropic Messages: to and from the neutral form. (In progress.)
