//! What webhooks carry (API.md, "Webhooks"): the event types a client can subscribe to, and
//! an event as it is stored in the outbox and sent, `{"id","type","createdAt","clientId",
//! "data"}`. Each kind of event is made by one constructor here, so the `data` of every type
//! is written down in one place.

use serde_json::{Value, json};

use super::time::rfc3339;

/// A type of event a webhook can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A chat session of the client was created.
    SessionCreated,
    /// A visitor's message was stored.
    MessageCreated,
    /// An assistant reply ended (however it ended: `status` says).
    ReplyCompleted,
    /// A reply was rated (or rated again).
    FeedbackCreated,
    /// A visitor's data was erased.
    VisitorErased,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        Self::SessionCreated,
        Self::MessageCreated,
        Self::ReplyCompleted,
        Self::FeedbackCreated,
        Self::VisitorErased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionCreated => "session.created",
            Self::MessageCreated => "message.created",
            Self::ReplyCompleted => "reply.completed",
            Self::FeedbackCreated => "feedback.created",
            Self::VisitorErased => "visitor.erased",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// This type's bit in a set of types (see [`EventSet`]).
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of event types, as one byte: what a client's webhooks subscribe to, together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSet(u8);

impl EventSet {
    pub fn insert(&mut self, t: EventType) {
        self.0 |= t.bit();
    }

    pub fn contains(self, t: EventType) -> bool {
        self.0 & t.bit() != 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The types named in a stored `,a,b,` list; unknown names are skipped.
    pub fn from_stored(list: &str) -> Self {
        let mut set = Self::default();
        for t in list.split(',').filter_map(EventType::parse) {
            set.insert(t);
        }
        set
    }
}

/// The stored form of a webhook's subscribed types: `,a,b,` so that `LIKE '%,a,%'` finds it.
pub fn stored_events(types: &[EventType]) -> String {
    let mut s = String::from(",");
    for t in types {
        s.push_str(t.as_str());
        s.push(',');
    }
    s
}

/// The `LIKE` pattern that finds webhooks subscribed to `t` in their stored list.
pub fn subscribed_pattern(t: EventType) -> String {
    format!("%,{},%", t.as_str())
}

/// One event of one client, ready to be stored in the outbox.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: String,
    pub kind: EventType,
    pub client_id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub data: Value,
}

impl Event {
    fn new(kind: EventType, client_id: &str, created_at: i64, data: Value) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            client_id: client_id.to_string(),
            created_at,
            data,
        }
    }

    /// The delivery's body, exactly the bytes that are signed and sent.
    pub fn body(&self) -> String {
        json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "createdAt": rfc3339(self.created_at),
            "clientId": self.client_id,
            "data": self.data,
        })
        .to_string()
    }

    pub fn session_created(
        client_id: &str,
        session_id: &str,
        user_identifier: Option<&str>,
        verified: bool,
        created_at: i64,
    ) -> Self {
        let data = json!({
            "sessionId": session_id,
            "userIdentifier": user_identifier,
            "verified": verified,
            "createdAt": rfc3339(created_at),
        });
        Self::new(EventType::SessionCreated, client_id, created_at, data)
    }

    pub fn message_created(
        client_id: &str,
        session_id: &str,
        message_id: &str,
        content: &str,
        created_at: i64,
    ) -> Self {
        let data = json!({
            "sessionId": session_id,
            "messageId": message_id,
            "role": "user",
            "content": content,
            "createdAt": rfc3339(created_at),
        });
        Self::new(EventType::MessageCreated, client_id, created_at, data)
    }

    /// `reply` is what the reply's stored metadata says of it: `status`, `finishReason`,
    /// `provider`, `model`, `usage`, `timeToFirstTokenMs`, `totalMs` and, for a failure,
    /// `error`.
    pub fn reply_completed(
        client_id: &str,
        session_id: &str,
        message_id: &str,
        content: &str,
        reply: &Value,
        created_at: i64,
    ) -> Self {
        let field = |name: &str| reply.get(name).cloned().unwrap_or(Value::Null);
        let mut data = json!({
            "sessionId": session_id,
            "messageId": message_id,
            "status": field("status"),
            "finishReason": field("finishReason"),
            "content": content,
            "provider": field("provider"),
            "model": field("model"),
            "usage": field("usage"),
            "timings": {
                "timeToFirstTokenMs": field("timeToFirstTokenMs"),
                "totalMs": field("totalMs"),
            },
            "createdAt": rfc3339(created_at),
        });
        if let Some(error) = reply.get("error") {
            data["error"] = error.clone();
        }
        Self::new(EventType::ReplyCompleted, client_id, created_at, data)
    }

    pub fn feedback_created(
        client_id: &str,
        session_id: &str,
        message_id: &str,
        rating: &str,
        comment: Option<&str>,
        created_at: i64,
    ) -> Self {
        let data = json!({
            "sessionId": session_id,
            "messageId": message_id,
            "rating": rating,
            "comment": comment,
            "createdAt": rfc3339(created_at),
        });
        Self::new(EventType::FeedbackCreated, client_id, created_at, data)
    }

    pub fn visitor_erased(
        client_id: &str,
        user_identifier: &str,
        counts: [(&str, u64); 4],
        created_at: i64,
    ) -> Self {
        let mut data = json!({ "userIdentifier": user_identifier });
        for (name, n) in counts {
            data[name] = json!(n);
        }
        Self::new(EventType::VisitorErased, client_id, created_at, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_and_sets_hold_them() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("session.deleted"), None);
        let stored = stored_events(&[EventType::MessageCreated, EventType::VisitorErased]);
        assert_eq!(stored, ",message.created,visitor.erased,");
        let set = EventSet::from_stored(&stored);
        assert!(set.contains(EventType::MessageCreated) && set.contains(EventType::VisitorErased));
        assert!(!set.contains(EventType::SessionCreated));
        assert_eq!(
            subscribed_pattern(EventType::ReplyCompleted),
            "%,reply.completed,%"
        );
    }

    #[test]
    fn the_body_has_the_contract_fields() {
        let e = Event::session_created("c1", "s1", Some("v"), true, 1_767_225_600_000);
        let body: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(body["id"], e.id.as_str());
        assert_eq!(body["type"], "session.created");
        assert_eq!(body["clientId"], "c1");
        assert_eq!(body["createdAt"], "2026-01-01T00:00:00.000Z");
        assert_eq!(body["data"]["sessionId"], "s1");
        assert_eq!(body["data"]["verified"], true);
    }
}
