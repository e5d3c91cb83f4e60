//! The AI providers behind a chat reply, behind one small trait.
//! [`mock`] is a fake of the OpenAI and Anthropic HTTP APIs for tests.

pub mod mock;
