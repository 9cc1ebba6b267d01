//! The OpenAI Responses API: to and from the neutral form. (In progress.)
