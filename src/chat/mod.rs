//! Chat replies: choosing the provider, building the context, storing the user's message,
//! starting the provider and running the generation task that feeds the reply hub and
//! stores the assistant message when the reply ends, however it ends.

pub mod context;
pub mod hub;
pub mod snapshots;
pub mod sse;

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};

use self::hub::{DoneData, Reply, ReplyEnd, Usage};
use self::snapshots::Snapshot;
use crate::api::rfc3339;
use crate::api::sessions::{live_session, load_session};
use crate::auth::scheme::{ChatAuth, Owner};
use crate::db::clients::AiDefaults;
use crate::db::files::FileContextRow;
use crate::db::sessions::Turn;
use crate::db::{self, messages, sessions};
use crate::domain::MessageText;
use crate::error::{ApiError, ApiResult};
use crate::providers::{
    ChatRequest, ChatTurn, ColumnFacts, FileFacts, OfflineContext, PageContext, ProviderError,
    ProviderEvent, ProviderKind, ProviderStream, Role,
};
use crate::state::AppState;

/// How many stored messages are read to pick the history that fits its budget.
pub const HISTORY_WINDOW: i64 = 60;

/// A reply that started: the provider accepted the request and generation runs.
pub struct Started {
    pub reply: Arc<Reply>,
    pub user_message_id: String,
    pub provider: ProviderKind,
    pub model: String,
}

/// The provider, model and generation settings for one reply.
struct Choice {
    provider: ProviderKind,
    model: String,
    system_prompt: String,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
}

fn str_of<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// Request config over session config over the client's defaults over `AI_PROVIDER`. The
/// client's model applies only to the client's own provider.
fn choose(state: &AppState, client: Option<&AiDefaults>, config: &Value) -> Choice {
    let client_provider = client
        .and_then(|c| c.ai_provider.as_deref())
        .and_then(|p| p.parse::<ProviderKind>().ok());
    let provider = str_of(config, "aiProvider")
        .and_then(|p| p.parse().ok())
        .or(client_provider)
        .unwrap_or(state.settings.ai_provider);
    let model = str_of(config, "model")
        .map(str::to_string)
        .or_else(|| {
            client
                .filter(|_| client_provider == Some(provider))
                .and_then(|c| c.ai_model.clone())
        })
        .unwrap_or_else(|| state.providers.default_model(provider));
    let system_prompt = client
        .and_then(|c| c.system_prompt.clone())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| context::DEFAULT_SYSTEM_PROMPT.to_string());
    Choice {
        provider,
        model,
        system_prompt,
        temperature: client.and_then(|c| c.temperature).map(|t| t as f32),
        max_tokens: client
            .and_then(|c| c.max_tokens)
            .and_then(|m| u32::try_from(m).ok()),
    }
}

fn page_context(config: &Value) -> Option<PageContext> {
    let pc = config.get("pageContext")?.as_object()?;
    let field = |k: &str| pc.get(k).and_then(Value::as_str).map(str::to_string);
    Some(PageContext {
        url: field("url"),
        title: field("title"),
        content: field("content"),
    })
}

/// The session's active file as the provider sees it: its rendered text, and the facts the
/// offline provider answers from.
fn file_context(row: FileContextRow) -> ApiResult<(String, FileFacts)> {
    let FileContextRow {
        text,
        name,
        analysis,
    } = row;
    let analysis: crate::files::Analysis = serde_json::from_str(&analysis)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored analysis: {e}")))?;
    let facts = FileFacts {
        name,
        summary: analysis.summary.clone(),
        rows: analysis.rows,
        columns: analysis
            .columns
            .iter()
            .map(|c| ColumnFacts {
                name: c.name.clone(),
                kind: c.kind.as_str().into(),
                nulls: c.nulls,
                distinct: c.distinct,
                min: c.min,
                max: c.max,
                mean: c.mean,
            })
            .collect(),
    };
    Ok((text, facts))
}

/// Stores the user's message, builds the context, starts the provider and spawns the
/// generation. Failures before the provider accepted the request are ordinary errors.
pub async fn start_reply(
    state: &AppState,
    auth: &ChatAuth,
    session_id: &str,
    message: MessageText,
    config: Option<Value>,
) -> ApiResult<Started> {
    let owner = auth.owner();
    let extra = config.map(crate::api::sessions::parse_config).transpose()?;
    // Nothing accepted is lost: the question is stored before the provider is called.
    let user_message_id = db::new_id();
    let question = messages::Question {
        id: &user_message_id,
        session_id,
        owner: &owner,
        active_since: db::now_ms() - state.session_timeout_ms(),
        content: message.as_str(),
    };
    let question_turn = || Turn {
        id: user_message_id.clone(),
        role: "user".into(),
        content: message.as_str().to_string(),
    };
    // What this process remembers of the session, if it is still current: then storing the
    // question is the only statement before the provider is called (snapshots.rs).
    let remembered = match state.snapshots.get(session_id, &owner) {
        Some(snapshot) => messages::insert_user(&state.db, &question, Some(snapshot.revision))
            .await?
            .map(|at| (snapshot, at)),
        None => None,
    };
    let (context, user_created_at, revision) = match remembered {
        Some((snapshot, at)) => {
            let revision = state
                .snapshots
                .advance(session_id, snapshot.revision, question_turn());
            (snapshot, at, revision)
        }
        None => {
            let (snapshot, at) = read_and_store(state, &owner, session_id, &question).await?;
            // The read ran before or after the question was stored: what the session is now
            // is one revision past a read that did not see it.
            let saw_question = snapshot.newest.iter().any(|t| t.id == user_message_id);
            let mut now = (*snapshot).clone();
            let stored = if saw_question {
                None
            } else {
                now.revision += 1;
                Some(question_turn())
            };
            let revision = now.revision;
            state.snapshots.put(session_id, now, stored);
            (snapshot, at, Some(revision))
        }
    };
    let file = context.file.clone();
    let mut merged = (*context.config).clone();
    if let (Value::Object(base), Some(Value::Object(extra))) = (&mut merged, extra) {
        base.extend(extra);
    }
    let choice = choose(state, auth.ai_defaults(), &merged);
    let mut history: Vec<ChatTurn> = context
        .newest
        .iter()
        .filter(|m| m.id != user_message_id && !m.content.is_empty())
        .take(HISTORY_WINDOW as usize)
        .map(|m| ChatTurn {
            role: if m.role == "assistant" {
                Role::Assistant
            } else {
                Role::User
            },
            content: m.content.clone(),
        })
        .collect();
    history.reverse();
    let page = page_context(&merged);
    let custom_instructions = str_of(&merged, "customInstructions").map(str::to_string);
    let built = context::build(&context::ContextInput {
        system_prompt: &choice.system_prompt,
        custom_instructions: custom_instructions.as_deref(),
        page: page.as_ref(),
        file_text: file.as_ref().map(|f| f.0.as_str()),
        history: &history,
        message: message.as_str(),
    });

    let request = ChatRequest {
        model: choice.model.clone(),
        system: built.system,
        messages: built.messages,
        temperature: choice.temperature,
        max_tokens: choice.max_tokens,
        offline: OfflineContext {
            question: message.into_string(),
            page_context: page,
            custom_instructions,
            file: file.map(|f| f.1.clone()),
        },
    };
    let started_at = Instant::now();
    let stream = state
        .providers
        .get(choice.provider)
        .start(request)
        .await
        .map_err(|e| provider_error(&e, choice.provider))?;

    let reply = state.hub.open(db::new_id(), session_id.to_string(), owner);
    let generation = Generation {
        state: state.clone(),
        reply: Arc::clone(&reply),
        revision,
        provider: choice.provider,
        model: choice.model.clone(),
        // The reply sorts after its question even within the same millisecond.
        created_at: db::now_ms().max(user_created_at + 1),
        started_at,
    };
    state.hub.spawn(generation.run(stream));
    tracing::info!(session_id, message_id = %reply.id, provider = choice.provider.as_str(), model = %choice.model, "reply started");
    Ok(Started {
        reply,
        user_message_id,
        provider: choice.provider,
        model: choice.model,
    })
}

/// Stores the question while reading the session, its file and its newest messages, as the
/// start did before there were snapshots, and when a snapshot is not current: through the
/// pool the two statements run at once; on an SQLite file they run on this thread, one after
/// the other, unless the database is busy (db::direct). Storing the question checks the
/// session itself and marks it active (a trigger). The snapshot answered holds what was read
/// (the question among the messages or not, whichever finished first).
async fn read_and_store(
    state: &AppState,
    owner: &Owner,
    session_id: &str,
    question: &messages::Question<'_>,
) -> ApiResult<(Arc<Snapshot>, i64)> {
    let (found, inserted) = tokio::join!(
        sessions::get_for_reply(&state.db, owner, session_id, HISTORY_WINDOW + 1),
        messages::insert_user(&state.db, question, None),
    );
    let found = match found {
        Ok(Some(f)) => {
            live_session(state, f.session).map(|session| sessions::ReplySource { session, ..f })
        }
        Ok(None) => Err(ApiError::not_found("Session")),
        Err(e) => Err(e.into()),
    };
    let (found, user_created_at) = match (found, inserted) {
        (Ok(found), Ok(Some(at))) => (found, at),
        // The session expired or went away between the two statements: answer what a fresh
        // read says.
        (Ok(_), Ok(None)) => {
            load_session(state, owner, session_id).await?;
            return Err(ApiError::not_found("Session"));
        }
        // Keep nothing of a question whose session could not be read.
        (Err(e), Ok(Some(_))) => {
            messages::delete(&state.db, question.id).await?;
            return Err(e);
        }
        (Err(e), Ok(None)) => return Err(e),
        (_, Err(e)) => return Err(e.into()),
    };
    let snapshot = Snapshot {
        owner: owner.clone(),
        revision: found.revision,
        config: Arc::new(found.session.config),
        file: found.file.map(file_context).transpose()?.map(Arc::new),
        newest: found.history.into_iter().map(Arc::new).collect(),
    };
    Ok((Arc::new(snapshot), user_created_at))
}

/// What a client sees of a provider failure: 502 or 504 with an actionable message.
pub fn provider_error(err: &ProviderError, provider: ProviderKind) -> ApiError {
    tracing::warn!(provider = provider.as_str(), error = %err, "provider failure");
    ApiError::upstream(err.http_status(), err.user_message())
}

struct Generation {
    state: AppState,
    reply: Arc<Reply>,
    /// The session's revision once the question was stored, when this process knows it.
    revision: Option<i64>,
    provider: ProviderKind,
    model: String,
    created_at: i64,
    started_at: Instant,
}

enum Outcome {
    Complete,
    Cancelled,
    Interrupted,
    Failed(ProviderError),
}

impl Generation {
    async fn run(self, mut stream: ProviderStream) {
        let mut text = String::new();
        let mut delta_chars: Vec<usize> = Vec::new();
        let mut usage: Option<Usage> = None;
        let mut finish: Option<String> = None;
        let mut first_token_ms: Option<u128> = None;
        let cancel = self.reply.cancel_token().clone();
        let outcome = loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    break if self.state.hub.is_shutting_down() { Outcome::Interrupted } else { Outcome::Cancelled };
                }
                event = stream.next() => match event {
                    Some(Ok(ProviderEvent::Delta(d))) => {
                        if d.is_empty() {
                            continue;
                        }
                        first_token_ms.get_or_insert_with(|| self.started_at.elapsed().as_millis());
                        text.push_str(&d);
                        delta_chars.push(d.chars().count());
                        self.reply.push_delta(&d);
                    }
                    Some(Ok(ProviderEvent::Usage { prompt_tokens, completion_tokens })) => {
                        usage = Some(Usage { prompt_tokens, completion_tokens });
                    }
                    Some(Ok(ProviderEvent::Finish(reason))) => finish = Some(reason),
                    Some(Err(e)) => break Outcome::Failed(e),
                    None => break Outcome::Complete,
                }
            }
        };
        // Dropping the stream closes the upstream connection at once.
        drop(stream);

        let (status, finish_reason) = match &outcome {
            Outcome::Complete => ("complete", finish.clone().unwrap_or_else(|| "stop".into())),
            Outcome::Cancelled => ("cancelled", "cancelled".to_string()),
            Outcome::Interrupted => ("interrupted", "interrupted".to_string()),
            Outcome::Failed(_) => ("error", "error".to_string()),
        };
        let mut metadata = json!({
            "status": status,
            "finishReason": finish_reason,
            "provider": self.provider.as_str(),
            "model": self.model,
            "usage": usage,
            "timeToFirstTokenMs": first_token_ms,
            "totalMs": self.started_at.elapsed().as_millis(),
            "deltas": delta_chars,
        });
        if let Outcome::Failed(e) = &outcome {
            metadata["error"] = json!(e.user_message());
        }
        let stored = messages::insert_assistant(
            &self.state.db,
            &messages::AssistantMessage {
                id: &self.reply.id,
                session_id: &self.reply.session_id,
                content: &text,
                provider: self.provider.as_str(),
                model: &self.model,
                status,
                metadata: &metadata,
                created_at: self.created_at,
            },
        )
        .await;
        match (&stored, self.revision) {
            (Ok(true), Some(revision)) => {
                let turn = Turn {
                    id: self.reply.id.clone(),
                    role: "assistant".into(),
                    content: text.clone(),
                };
                self.state
                    .snapshots
                    .advance(&self.reply.session_id, revision, turn);
            }
            (Ok(_), _) => self.state.snapshots.forget(&self.reply.session_id),
            (Err(e), _) => {
                self.state.snapshots.forget(&self.reply.session_id);
                tracing::error!(message_id = %self.reply.id, error = %e, "could not store the assistant message");
            }
        }
        let _ = sessions::touch(&self.state.db, &self.reply.session_id).await;
        let message_count = sessions::message_count(&self.state.db, &self.reply.session_id)
            .await
            .unwrap_or(0);
        let end = match outcome {
            Outcome::Failed(e) => {
                tracing::warn!(message_id = %self.reply.id, provider = self.provider.as_str(), error = %e, "reply failed");
                ReplyEnd::Failed {
                    status: e.http_status(),
                    error: "AI provider error".into(),
                    detail: e.user_message(),
                }
            }
            Outcome::Interrupted => ReplyEnd::Failed {
                status: 503,
                error: "Reply interrupted".into(),
                detail:
                    "The service is restarting; what was generated so far is kept in the history"
                        .into(),
            },
            _ => ReplyEnd::Done(DoneData {
                message_id: self.reply.id.clone(),
                response: text,
                message_count,
                provider: self.provider.as_str().into(),
                model: self.model.clone(),
                finish_reason,
                usage,
                timestamp: rfc3339(db::now_ms()),
            }),
        };
        tracing::info!(message_id = %self.reply.id, status, "reply ended");
        self.reply.finish(end);
    }
}

/// Rebuilds a stored reply's deltas (with their original ids) and its end, for resumes that
/// come after the reply left the hub.
pub fn replay_stored(m: &messages::MessageRow, message_count: i64) -> (Vec<Arc<str>>, ReplyEnd) {
    let meta = m.metadata.clone().unwrap_or(Value::Null);
    let lengths: Vec<usize> = meta
        .get("deltas")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|n| n as usize)
                .collect()
        })
        .unwrap_or_default();
    let mut deltas: Vec<Arc<str>> = Vec::with_capacity(lengths.len());
    let mut chars = m.content.chars();
    for n in &lengths {
        let piece: String = chars.by_ref().take(*n).collect();
        deltas.push(Arc::from(piece));
    }
    let rest: String = chars.collect();
    if !rest.is_empty() {
        deltas.push(Arc::from(rest));
    }
    let status = m.status.as_deref().unwrap_or("complete");
    let end = if status == "error" || status == "interrupted" {
        ReplyEnd::Failed {
            status: 502,
            error: if status == "error" {
                "AI provider error".into()
            } else {
                "Reply interrupted".into()
            },
            detail: meta
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("The reply did not complete")
                .to_string(),
        }
    } else {
        ReplyEnd::Done(DoneData {
            message_id: m.id.clone(),
            response: m.content.clone(),
            message_count,
            provider: m.provider.clone().unwrap_or_default(),
            model: m.model.clone().unwrap_or_default(),
            finish_reason: meta
                .get("finishReason")
                .and_then(Value::as_str)
                .unwrap_or("stop")
                .to_string(),
            usage: meta
                .get("usage")
                .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok()),
            timestamp: rfc3339(m.created_at),
        })
    };
    (deltas, end)
}
