//! A reply's start: the question stored (before the provider is called: nothing accepted is
//! lost), the session's context read or remembered, the provider and model chosen, the
//! provider started and the generation spawned. Failures before the provider accepted the
//! request are ordinary errors.

use std::sync::Arc;
use std::time::Instant;

use super::generation::Generation;
use super::hub::Reply;
use super::session::Unavailable;
use super::snapshots::Snapshot;
use super::{Chat, HISTORY_WINDOW, context};
use crate::db::files::FileContextRow;
use crate::db::sessions::{self, Turn};
use crate::db::{self, messages};
use crate::domain::client::AiDefaults;
use crate::domain::webhook::EventType;
use crate::domain::{MessageRole, MessageText, Owner, ProviderKind, SessionConfig};
use crate::error::{ApiError, ApiResult};
use crate::providers::{
    ChatRequest, ChatTurn, ColumnFacts, FileFacts, OfflineContext, ProviderError, Role,
};

/// A reply that started: the provider accepted the request and generation runs.
pub struct Started {
    pub reply: Arc<Reply>,
    pub session_id: String,
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

impl Chat {
    /// Request config over session config over the client's defaults over `AI_PROVIDER`.
    /// The client's model applies only to the client's own provider.
    fn choose(&self, client: Option<&AiDefaults>, config: &SessionConfig) -> Choice {
        let client_provider = client
            .and_then(|c| c.ai_provider.as_deref())
            .and_then(|p| p.parse::<ProviderKind>().ok());
        let provider = config
            .ai_provider
            .or(client_provider)
            .unwrap_or(self.default_provider);
        let model = config
            .model
            .clone()
            .or_else(|| {
                client
                    .filter(|_| client_provider == Some(provider))
                    .and_then(|c| c.ai_model.clone())
            })
            .unwrap_or_else(|| self.providers.default_model(provider));
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

    /// Stores the user's message, builds the context, starts the provider and spawns the
    /// generation. `client` holds the calling client's AI defaults (none for a user's own
    /// sessions); `config` is this message's config over the session's. A session that is
    /// not the owner's or expired is answered as [`Unavailable`], and nothing is stored.
    pub async fn start_reply(
        &self,
        owner: &Owner,
        client: Option<&AiDefaults>,
        session_id: &str,
        message: MessageText,
        config: Option<SessionConfig>,
    ) -> ApiResult<Result<Started, Unavailable>> {
        // A draining instance takes no new replies: the client retries on another one.
        if self.hub.is_shutting_down() {
            return Err(ApiError::unavailable(
                "The service is restarting; send the message again",
            ));
        }
        // Nothing accepted is lost: the question is stored before the provider is called.
        let user_message_id = db::new_id();
        let client_id = match owner {
            Owner::Client(id) => Some(id.as_str()),
            Owner::User(_) => None,
        };
        let hook = (self.webhooks)
            .wants(&self.db, client_id, EventType::MessageCreated)
            .await;
        let question = messages::Question {
            id: &user_message_id,
            session_id,
            owner,
            active_since: db::now_ms() - self.session_timeout_ms(),
            content: message.as_str(),
            hook,
        };
        let question_turn = || Turn {
            id: user_message_id.clone(),
            role: MessageRole::User,
            content: message.as_str().to_string(),
        };
        // What this process remembers of the session, if it is still current: then storing
        // the question is the only statement before the provider is called (snapshots.rs).
        let remembered = match self.snapshots.get(session_id, owner) {
            Some(snapshot) => messages::insert_user(&self.db, &question, Some(snapshot.revision))
                .await?
                .map(|at| (snapshot, at)),
            None => None,
        };
        let (context, user_created_at, revision) = match remembered {
            Some((snapshot, at)) => {
                let revision =
                    self.snapshots
                        .advance(session_id, snapshot.revision, question_turn());
                (snapshot, at, revision)
            }
            None => {
                let (snapshot, at) = match self.read_and_store(owner, session_id, &question).await?
                {
                    Ok(read) => read,
                    Err(why) => return Ok(Err(why)),
                };
                // The read ran before or after the question was stored: what the session is
                // now is one revision past a read that did not see it.
                let saw_question = snapshot.newest.iter().any(|t| t.id == user_message_id);
                let mut now = (*snapshot).clone();
                let stored = if saw_question {
                    None
                } else {
                    now.revision += 1;
                    Some(question_turn())
                };
                let revision = now.revision;
                self.snapshots.put(session_id, now, stored);
                (snapshot, at, Some(revision))
            }
        };
        if hook {
            self.webhooks.wake();
        }
        let file = context.file.clone();
        let merged = match &config {
            Some(over) => context.config.overlaid_with(over),
            None => (*context.config).clone(),
        };
        let choice = self.choose(client, &merged);
        let mut history: Vec<ChatTurn> = context
            .newest
            .iter()
            .filter(|m| m.id != user_message_id && !m.content.is_empty())
            .take(HISTORY_WINDOW as usize)
            .map(|m| ChatTurn {
                role: match m.role {
                    MessageRole::Assistant => Role::Assistant,
                    MessageRole::User => Role::User,
                },
                content: m.content.clone(),
            })
            .collect();
        history.reverse();
        let built = context::build(&context::ContextInput {
            system_prompt: &choice.system_prompt,
            custom_instructions: merged.custom_instructions.as_deref(),
            page: merged.page_context.as_ref(),
            file_text: file.as_ref().map(|f| f.0.as_str()),
            history: &history,
            message: message.as_str(),
        });

        // The offline provider looks the question's terms up in the file's rows.
        let file_rows = match (&file, choice.provider) {
            (Some(_), ProviderKind::Offline) => stored_rows(&self.db, session_id).await?,
            _ => None,
        };
        let request = ChatRequest {
            model: choice.model.clone(),
            system: built.system,
            messages: built.messages,
            temperature: choice.temperature,
            max_tokens: choice.max_tokens,
            offline: OfflineContext {
                question: message.into_string(),
                page_context: merged.page_context.clone(),
                custom_instructions: merged.custom_instructions.clone(),
                file: file.map(|f| f.1.clone()),
                file_rows,
            },
        };
        let started_at = Instant::now();
        let stream = self
            .providers
            .get(choice.provider)
            .start(request)
            .await
            .map_err(|e| provider_error(&e, choice.provider))?;

        let reply = self
            .hub
            .open(db::new_id(), session_id.to_string(), owner.clone());
        let generation = Generation {
            chat: self.clone(),
            reply: Arc::clone(&reply),
            revision,
            provider: choice.provider,
            model: choice.model.clone(),
            // The reply sorts after its question even within the same millisecond.
            created_at: db::now_ms().max(user_created_at + 1),
            started_at,
        };
        self.hub.spawn(generation.run(stream));
        tracing::info!(session_id, message_id = %reply.id, provider = choice.provider.as_str(), model = %choice.model, "reply started");
        Ok(Ok(Started {
            reply,
            session_id: session_id.to_string(),
            user_message_id,
            provider: choice.provider,
            model: choice.model,
        }))
    }

    /// Stores the question while reading the session, its file and its newest messages, as
    /// the start did before there were snapshots, and when a snapshot is not current: through
    /// the pool the two statements run at once; on an SQLite file they run on this thread,
    /// one after the other, unless the database is busy (db::direct). Storing the question
    /// checks the session itself and marks it active (a trigger). The snapshot answered
    /// holds what was read (the question among the messages or not, whichever finished
    /// first).
    async fn read_and_store(
        &self,
        owner: &Owner,
        session_id: &str,
        question: &messages::Question<'_>,
    ) -> ApiResult<Result<(Arc<Snapshot>, i64), Unavailable>> {
        let (found, inserted) = tokio::join!(
            sessions::get_for_reply(&self.db, owner, session_id, HISTORY_WINDOW + 1),
            messages::insert_user(&self.db, question, None),
        );
        let found = match found {
            Ok(Some(f)) => self
                .live_session(f.session)
                .map(|session| sessions::ReplySource { session, ..f })
                .map_err(Failure::Unavailable),
            Ok(None) => Err(Failure::Unavailable(Unavailable::NotFound)),
            Err(e) => Err(Failure::Error(e.into())),
        };
        let (found, user_created_at) = match (found, inserted) {
            (Ok(found), Ok(Some(at))) => (found, at),
            // The session expired or went away between the two statements: answer what a
            // fresh read says.
            (Ok(_), Ok(None)) => {
                let why = self.find_session(owner, session_id).await?.err();
                return Ok(Err(why.unwrap_or(Unavailable::NotFound)));
            }
            // Keep nothing of a question whose session could not be read.
            (Err(failure), Ok(Some(_))) => {
                messages::delete(&self.db, question.id).await?;
                return failure.answer();
            }
            (Err(failure), Ok(None)) => return failure.answer(),
            (_, Err(e)) => return Err(e.into()),
        };
        let snapshot = Snapshot {
            owner: owner.clone(),
            revision: found.revision,
            config: Arc::new(found.session.config),
            file: found.file.map(file_context).transpose()?.map(Arc::new),
            newest: found.history.into_iter().map(Arc::new).collect(),
        };
        Ok(Ok((Arc::new(snapshot), user_created_at)))
    }
}

/// Why reading the session for a reply failed.
enum Failure {
    Unavailable(Unavailable),
    Error(ApiError),
}

impl Failure {
    fn answer<T>(self) -> ApiResult<Result<T, Unavailable>> {
        match self {
            Self::Unavailable(why) => Ok(Err(why)),
            Self::Error(e) => Err(e),
        }
    }
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

/// The session file's stored rows, parsed off the async threads; `None` without a file.
async fn stored_rows(db: &db::Db, session_id: &str) -> ApiResult<Option<Arc<crate::files::Table>>> {
    let Some((table, _)) = db::files::table(db, session_id).await? else {
        return Ok(None);
    };
    let parsed =
        tokio::task::spawn_blocking(move || serde_json::from_str::<crate::files::Table>(&table))
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("parsing the stored rows: {e}")))?
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored rows: {e}")))?;
    Ok(Some(Arc::new(parsed)))
}

/// What a client sees of a provider failure: 502 or 504 with an actionable message.
pub fn provider_error(err: &ProviderError, provider: ProviderKind) -> ApiError {
    tracing::warn!(provider = provider.as_str(), error = %err, "provider failure");
    ApiError::upstream(err.http_status(), err.user_message())
}
