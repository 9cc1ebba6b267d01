//! Gemini generateContent: to and from the neutral form. (In progress.)
