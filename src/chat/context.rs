//! What the provider sees: the system prompt, the session's custom instructions, the page
//! the visitor is on, the active file's data, then the newest history that fits, and the
//! question. Token budgets as the seed service had them: 6,000 in all, the user message at
//! most 3,000, data 2,000, history 1,500. Tokens are estimated as characters / 4.

use crate::providers::{ChatTurn, PageContext, Role};

pub const TOTAL_BUDGET: usize = 6_000;
pub const MESSAGE_BUDGET: usize = 3_000;
pub const DATA_BUDGET: usize = 2_000;
pub const HISTORY_BUDGET: usize = 1_500;
/// The page's own text counts against the data budget when there is no file; with a file
/// it gets this much so the page does not crowd out the data.
pub const PAGE_BUDGET_WITH_FILE: usize = 500;

pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant embedded in a website. Answer the visitor's questions clearly and concisely. \
Use the page context and any data file provided; if you do not know, say so.";

/// Tokens of a text, estimated as the seed service did: one token per four characters.
pub use crate::files::estimate_tokens;

/// The longest prefix of `text` within `tokens`, cut at a character boundary, with a marker
/// when something was cut.
pub fn truncate_to_tokens(text: &str, tokens: usize) -> String {
    if estimate_tokens(text) <= tokens {
        return text.to_string();
    }
    const MARK: &str = " […]";
    let keep = (tokens * 4).saturating_sub(MARK.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(MARK);
    out
}

pub struct ContextInput<'a> {
    pub system_prompt: &'a str,
    pub custom_instructions: Option<&'a str>,
    pub page: Option<&'a PageContext>,
    /// The active file, already rendered as summary + compact CSV.
    pub file_text: Option<&'a str>,
    /// Earlier messages of the session, oldest first (without the new message).
    pub history: &'a [ChatTurn],
    pub message: &'a str,
}

#[derive(Debug)]
pub struct BuiltContext {
    pub system: String,
    /// The history that fit, then the new user message.
    pub messages: Vec<ChatTurn>,
    pub history_used: usize,
    pub tokens: usize,
}

pub fn build(input: &ContextInput<'_>) -> BuiltContext {
    let message = truncate_to_tokens(input.message, MESSAGE_BUDGET);
    let mut system = input.system_prompt.trim().to_string();
    if let Some(ci) = input
        .custom_instructions
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        system.push_str("\n\nInstructions from the website owner:\n");
        system.push_str(ci);
    }
    // Page context, then file data, sharing the data budget: with a file, the page gets a
    // small share so the data is not crowded out.
    let file = input.file_text.filter(|f| !f.trim().is_empty());
    let page_budget = if file.is_some() {
        PAGE_BUDGET_WITH_FILE
    } else {
        DATA_BUDGET
    };
    let mut data_left = DATA_BUDGET;
    if let Some(page) = input.page {
        let mut text = String::new();
        if let Some(t) = page.title.as_deref().filter(|s| !s.is_empty()) {
            text.push_str(&format!("Title: {t}\n"));
        }
        if let Some(u) = page.url.as_deref().filter(|s| !s.is_empty()) {
            text.push_str(&format!("URL: {u}\n"));
        }
        if let Some(c) = page.content.as_deref().filter(|s| !s.trim().is_empty()) {
            text.push_str("Content:\n");
            text.push_str(c.trim());
        }
        if !text.is_empty() {
            let text = truncate_to_tokens(&text, page_budget);
            data_left -= estimate_tokens(&text).min(data_left);
            system.push_str("\n\nThe visitor is on this page:\n");
            system.push_str(&text);
        }
    }
    if let Some(file) = file {
        system.push_str("\n\nThe visitor shared a data file:\n");
        system.push_str(&truncate_to_tokens(file, data_left));
    }
    // What is left for history: its own budget, and never past the total.
    let fixed = estimate_tokens(&system) + estimate_tokens(&message);
    let history_budget = HISTORY_BUDGET.min(TOTAL_BUDGET.saturating_sub(fixed));
    let mut used = 0;
    let mut kept = Vec::new();
    for turn in input.history.iter().rev() {
        let t = estimate_tokens(&turn.content);
        if used + t > history_budget {
            break;
        }
        used += t;
        kept.push(turn.clone());
    }
    kept.reverse();
    let history_used = kept.len();
    kept.push(ChatTurn {
        role: Role::User,
        content: message,
    });
    BuiltContext {
        system,
        messages: kept,
        history_used,
        tokens: fixed + used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: Role, chars: usize) -> ChatTurn {
        ChatTurn {
            role,
            content: "x".repeat(chars),
        }
    }

    fn input<'a>(history: &'a [ChatTurn], message: &'a str) -> ContextInput<'a> {
        ContextInput {
            system_prompt: "sys",
            custom_instructions: None,
            page: None,
            file_text: None,
            history,
            message,
        }
    }

    #[test]
    fn estimate_rounds_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("éééé"), 1, "characters, not bytes");
    }

    #[test]
    fn history_fills_exactly_its_budget_and_keeps_the_newest() {
        // 15 turns of 100 tokens = exactly 1,500: all fit.
        let history: Vec<_> = (0..15)
            .map(|i| {
                turn(
                    if i % 2 == 0 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    400,
                )
            })
            .collect();
        let built = build(&input(&history, "hi"));
        assert_eq!(built.history_used, 15);
        // One more token anywhere and the oldest turn goes.
        let mut more = history.clone();
        more.insert(0, turn(Role::User, 4));
        let built = build(&input(&more, "hi"));
        assert_eq!(built.history_used, 15);
        assert_eq!(
            built.messages[0].content.len(),
            400,
            "the newest turns are kept"
        );
        let mut bigger = history.clone();
        bigger[0].content.push('x');
        assert_eq!(build(&input(&bigger, "hi")).history_used, 14);
    }

    #[test]
    fn history_stops_at_the_first_turn_that_does_not_fit() {
        // A huge old turn blocks everything older than it, so no gaps appear in the history.
        let history = vec![
            turn(Role::User, 40),
            turn(Role::Assistant, 8_000),
            turn(Role::User, 40),
        ];
        let built = build(&input(&history, "q"));
        assert_eq!(built.history_used, 1);
        assert_eq!(built.messages.len(), 2);
    }

    #[test]
    fn message_is_cut_at_its_budget_only_past_it() {
        let exact = "m".repeat(MESSAGE_BUDGET * 4);
        assert_eq!(build(&input(&[], &exact)).messages[0].content, exact);
        let over = "m".repeat(MESSAGE_BUDGET * 4 + 1);
        let built = build(&input(&[], &over));
        assert_eq!(estimate_tokens(&built.messages[0].content), MESSAGE_BUDGET);
        assert!(built.messages[0].content.ends_with("[…]"));
    }

    #[test]
    fn file_data_is_held_to_the_data_budget_and_the_total_holds() {
        let file = "f".repeat(100_000);
        let page = PageContext {
            url: Some("https://x.example".into()),
            title: Some("T".into()),
            content: Some("p".repeat(100_000)),
        };
        let history: Vec<_> = (0..100).map(|_| turn(Role::User, 400)).collect();
        let message = "q".repeat(MESSAGE_BUDGET * 4);
        let built = build(&ContextInput {
            system_prompt: DEFAULT_SYSTEM_PROMPT,
            custom_instructions: Some("Be brief"),
            page: Some(&page),
            file_text: Some(&file),
            history: &history,
            message: &message,
        });
        assert!(built.system.contains("Be brief"));
        assert!(built.system.contains("https://x.example"));
        let data_tokens = estimate_tokens(&built.system) - estimate_tokens(DEFAULT_SYSTEM_PROMPT);
        assert!(data_tokens <= DATA_BUDGET + 40, "data took {data_tokens}");
        let total: usize = estimate_tokens(&built.system)
            + built
                .messages
                .iter()
                .map(|m| estimate_tokens(&m.content))
                .sum::<usize>();
        assert!(total <= TOTAL_BUDGET, "total {total}");
        assert_eq!(total, built.tokens);
    }

    #[test]
    fn page_context_is_in_the_system_prompt_in_order() {
        let page = PageContext {
            url: Some("https://shop.example/p".into()),
            title: Some("Pricing".into()),
            content: Some("Plans start at $9.".into()),
        };
        let built = build(&ContextInput {
            system_prompt: "SYS",
            custom_instructions: Some("Say arr"),
            page: Some(&page),
            file_text: Some("FILE"),
            history: &[],
            message: "q",
        });
        let s = &built.system;
        let (a, b, c, d) = (
            s.find("SYS").unwrap(),
            s.find("Say arr").unwrap(),
            s.find("Pricing").unwrap(),
            s.find("FILE").unwrap(),
        );
        assert!(a < b && b < c && c < d, "{s}");
        assert!(s.contains("Plans start at $9."));
    }
}
