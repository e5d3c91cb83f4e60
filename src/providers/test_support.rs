//! What the providers' unit tests share: providers with a short retry pause, reading a
//! provider stream to its end, and the provider contract written once and run against both
//! the OpenAI and the Anthropic wire formats ([`contract`], [`provider_contract!`]).

use std::time::Duration;

use futures::StreamExt;

use super::mock::{MockHandle, MockUpstream, Replies};
use super::{
    ChatRequest, ProviderError, ProviderEvent, ProviderKind, ProviderSettings, ProviderStream,
    Providers,
};

const WAIT: Duration = Duration::from_secs(10);

/// The providers for these settings, retrying after 5 ms rather than the real backoff.
pub fn providers(settings: ProviderSettings) -> Providers {
    Providers::new(settings).with_retry_backoff(Duration::from_millis(5))
}

/// Collects a stream into its events and the error that ended it, if any.
pub async fn collect(mut stream: ProviderStream) -> (Vec<ProviderEvent>, Option<ProviderError>) {
    let mut events = Vec::new();
    while let Some(item) = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the stream ends by itself")
    {
        match item {
            Ok(event) => events.push(event),
            Err(e) => {
                assert!(
                    tokio::time::timeout(WAIT, stream.next())
                        .await
                        .unwrap()
                        .is_none(),
                    "an error ends the stream"
                );
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

/// The text of the deltas, in order.
pub fn text_of(events: &[ProviderEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ProviderEvent::Delta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// One wire format the provider contract runs against: which provider speaks it, and that
/// format's own test settings and request (defined next to its format-specific tests).
#[derive(Clone, Copy)]
pub struct Wire {
    pub kind: ProviderKind,
    /// Settings pointing the provider at a base URL, with a key and long timeouts.
    pub settings_for: fn(&str) -> ProviderSettings,
    /// A typical request for this provider.
    pub request_for: fn() -> ChatRequest,
    /// The API key in `settings_for`, which no message may repeat.
    pub api_key: &'static str,
}

impl Wire {
    /// A fake server speaking this format: its base URL as the settings expect it, and its handle.
    pub async fn mock(&self, replies: impl Into<Replies>) -> (String, MockHandle) {
        match self.kind {
            ProviderKind::OpenAi => MockUpstream::openai(replies).await,
            ProviderKind::Claude => MockUpstream::anthropic(replies).await,
            ProviderKind::Offline => panic!("the offline provider has no wire format"),
        }
    }

    pub fn settings(&self, base_url: &str) -> ProviderSettings {
        (self.settings_for)(base_url)
    }

    /// Starts this wire's provider on its typical request.
    pub async fn start(&self, providers: &Providers) -> Result<ProviderStream, ProviderError> {
        providers.get(self.kind).start((self.request_for)()).await
    }
}

/// Declares the whole provider contract ([`contract`]) as `#[tokio::test]`s in a `contract`
/// module, for the wire format `$wire` (a [`Wire`] const in the invoking module). A new
/// contract test is a function in [`contract`] and its name in the list below.
macro_rules! provider_contract {
    ($wire:ident) => {
        $crate::providers::test_support::provider_contract!(@tests $wire;
            streams_text_then_usage_then_finish,
            a_slow_stream_arrives_piece_by_piece,
            a_rejected_key_is_not_retried,
            rate_limits_are_retried_then_reported,
            server_errors_are_retried_then_reported,
            an_overloaded_provider_is_retried_then_reported,
            a_500_then_a_stream_succeeds,
            an_unreachable_server_is_a_connect_error,
            a_silent_provider_hits_the_first_token_timeout,
            no_response_headers_hits_the_first_token_timeout,
            a_stall_after_tokens_hits_the_idle_timeout,
            a_cut_connection_is_reported_after_the_text_received,
            a_clean_close_without_finish_is_a_cut_too,
            a_finish_reason_without_end_marker_is_a_complete_reply,
            an_error_mid_stream_is_an_upstream_error,
            garbage_is_a_protocol_error,
            dropping_the_stream_closes_the_upstream_connection,
        );
    };
    (@tests $wire:ident; $($name:ident),* $(,)?) => {
        /// The provider contract ([`crate::providers::test_support::contract`]) for this
        /// wire format.
        mod contract {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::providers::test_support::contract::$name(super::$wire).await;
                }
            )*
        }
    };
}
pub(crate) use provider_contract;

/// What every streaming provider promises whatever its wire format: text, usage and finish
/// in order; timeouts for the connection, the first token and idleness; retries on 429 and
/// 5xx before the first token and none after; HTTP errors as typed errors that repeat
/// neither the key nor the upstream's words; cut streams reported; the upstream closed when
/// the stream is dropped. Each function is one test, run per format by [`provider_contract!`].
pub mod contract {
    use std::time::Duration;

    use futures::StreamExt;

    use super::{WAIT, Wire, collect, providers, text_of};
    use crate::providers::mock::{Reply, Script};
    use crate::providers::{ProviderError, ProviderEvent, ProviderSettings};

    pub async fn streams_text_then_usage_then_finish(wire: Wire) {
        let (base, mock) = wire.mock(Script::reply(&["Hel", "lo", " world"])).await;
        let providers = providers(wire.settings(&base));
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                ProviderEvent::Delta("Hel".into()),
                ProviderEvent::Delta("lo".into()),
                ProviderEvent::Delta(" world".into()),
                ProviderEvent::Usage {
                    prompt_tokens: 10,
                    completion_tokens: 3
                },
                ProviderEvent::Finish("stop".into()),
            ]
        );
        assert_eq!(mock.request_count(), 1);
    }

    pub async fn a_slow_stream_arrives_piece_by_piece(wire: Wire) {
        let script = Script::new()
            .text("one ")
            .delay(Duration::from_millis(30))
            .text("two ")
            .delay(Duration::from_millis(30))
            .text("three")
            .finish("length")
            .done();
        let (base, _mock) = wire.mock(script).await;
        let providers = providers(wire.settings(&base));
        let mut stream = wire.start(&providers).await.unwrap();
        let first = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
        assert_eq!(first, Some(Ok(ProviderEvent::Delta("one ".into()))));
        let (rest, error) = collect(stream).await;
        assert_eq!(error, None);
        assert_eq!(text_of(&rest), "two three");
        assert_eq!(rest.last(), Some(&ProviderEvent::Finish("length".into())));
    }

    pub async fn a_rejected_key_is_not_retried(wire: Wire) {
        let (base, mock) = wire.mock(Reply::Status(401)).await;
        let providers = providers(wire.settings(&base));
        let error = wire.start(&providers).await.err();
        assert_eq!(
            error,
            Some(ProviderError::Upstream {
                status: 401,
                message: "the provider rejected the API key".into()
            })
        );
        assert_eq!(mock.request_count(), 1);
        let message = error.unwrap().user_message();
        assert!(!message.contains(wire.api_key) && !message.contains("Incorrect"));
    }

    pub async fn rate_limits_are_retried_then_reported(wire: Wire) {
        let (base, mock) = wire.mock(Reply::Status(429)).await;
        let providers = providers(wire.settings(&base));
        let error = wire.start(&providers).await.err();
        assert_eq!(error, Some(ProviderError::RateLimited));
        assert_eq!(
            mock.request_count(),
            3,
            "one try and max_retries = 2 retries"
        );
    }

    pub async fn server_errors_are_retried_then_reported(wire: Wire) {
        let (base, mock) = wire.mock(Reply::Status(500)).await;
        let providers = providers(ProviderSettings {
            max_retries: 1,
            ..wire.settings(&base)
        });
        let error = wire.start(&providers).await.err();
        assert_eq!(
            error,
            Some(ProviderError::Upstream {
                status: 500,
                message: "the provider had an internal error".into()
            })
        );
        assert_eq!(mock.request_count(), 2);
        assert_eq!(error.unwrap().http_status(), 502);
    }

    pub async fn an_overloaded_provider_is_retried_then_reported(wire: Wire) {
        let (base, mock) = wire.mock(Reply::Status(529)).await;
        let error = wire.start(&providers(wire.settings(&base))).await.err();
        assert_eq!(
            error,
            Some(ProviderError::Upstream {
                status: 529,
                message: "the provider is overloaded".into()
            })
        );
        assert_eq!(mock.request_count(), 3);
    }

    pub async fn a_500_then_a_stream_succeeds(wire: Wire) {
        let (base, mock) = wire
            .mock(vec![
                Reply::Status(500),
                Reply::from(Script::reply(&["fine"])),
            ])
            .await;
        let providers = providers(wire.settings(&base));
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(error, None);
        assert_eq!(text_of(&events), "fine");
        assert_eq!(mock.request_count(), 2);
        assert_eq!(mock.requests()[0].body, mock.requests()[1].body);
    }

    pub async fn an_unreachable_server_is_a_connect_error(wire: Wire) {
        // Bind then drop a listener: nothing listens on that port any more.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let providers = providers(wire.settings(&format!("http://127.0.0.1:{port}/v1")));
        let error = wire.start(&providers).await.err();
        assert!(
            matches!(error, Some(ProviderError::Connect(_))),
            "{error:?}"
        );
        assert_eq!(error.unwrap().http_status(), 502);
    }

    /// For Anthropic this also shows that the preamble (`message_start`, `ping`) is no token.
    pub async fn a_silent_provider_hits_the_first_token_timeout(wire: Wire) {
        let (base, mock) = wire.mock(Script::new().hang()).await;
        let providers = providers(ProviderSettings {
            first_token_timeout: Duration::from_millis(200),
            ..wire.settings(&base)
        });
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(events, vec![]);
        assert_eq!(error, Some(ProviderError::Timeout("first token")));
        assert_eq!(error.unwrap().http_status(), 504);
        assert!(
            mock.wait_client_closed(1, WAIT).await,
            "the timed-out upstream is closed"
        );
    }

    pub async fn no_response_headers_hits_the_first_token_timeout(wire: Wire) {
        let (base, mock) = wire.mock(Reply::Hang).await;
        let providers = providers(ProviderSettings {
            first_token_timeout: Duration::from_millis(200),
            ..wire.settings(&base)
        });
        let error = wire.start(&providers).await.err();
        assert_eq!(error, Some(ProviderError::Timeout("first token")));
        assert_eq!(mock.request_count(), 1, "a timeout is not retried");
    }

    pub async fn a_stall_after_tokens_hits_the_idle_timeout(wire: Wire) {
        let (base, _mock) = wire.mock(Script::new().text("partial").hang()).await;
        let providers = providers(ProviderSettings {
            idle_timeout: Duration::from_millis(200),
            ..wire.settings(&base)
        });
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(text_of(&events), "partial");
        assert_eq!(error, Some(ProviderError::Timeout("idle")));
    }

    pub async fn a_cut_connection_is_reported_after_the_text_received(wire: Wire) {
        let (base, _mock) = wire.mock(Script::new().text("Hel").text("lo").cut()).await;
        let providers = providers(wire.settings(&base));
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(text_of(&events), "Hello");
        assert_eq!(error, Some(ProviderError::StreamCut));
    }

    pub async fn a_clean_close_without_finish_is_a_cut_too(wire: Wire) {
        // The script ends: the HTTP body ends properly, but no finish nor end marker
        // (OpenAI: finish_reason, [DONE]; Anthropic: message_delta, message_stop).
        let (base, _mock) = wire.mock(Script::new().text("Hel")).await;
        let providers = providers(wire.settings(&base));
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(text_of(&events), "Hel");
        assert_eq!(
            error,
            Some(ProviderError::StreamCut),
            "a clean close without the end marker"
        );
    }

    pub async fn a_finish_reason_without_end_marker_is_a_complete_reply(wire: Wire) {
        let (base, _mock) = wire.mock(Script::new().text("Hi").finish("stop")).await;
        let providers = providers(wire.settings(&base));
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(error, None);
        assert_eq!(events.last(), Some(&ProviderEvent::Finish("stop".into())));
    }

    pub async fn an_error_mid_stream_is_an_upstream_error(wire: Wire) {
        let script = Script::new().text("Hi").error("server_error", "boom");
        let (base, _mock) = wire.mock(script).await;
        let providers = providers(wire.settings(&base));
        let stream = wire.start(&providers).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(text_of(&events), "Hi");
        let Some(ProviderError::Upstream { message, .. }) = error else {
            panic!("expected an upstream error, got {error:?}");
        };
        assert!(
            !message.contains("boom"),
            "the upstream's words are not passed on"
        );
    }

    pub async fn garbage_is_a_protocol_error(wire: Wire) {
        let (base, _mock) = wire.mock(Script::new().raw("data: {not json\n\n")).await;
        let providers = providers(wire.settings(&base));
        let stream = wire.start(&providers).await.unwrap();
        let (_, error) = collect(stream).await;
        assert!(
            matches!(error, Some(ProviderError::Protocol(_))),
            "{error:?}"
        );
    }

    pub async fn dropping_the_stream_closes_the_upstream_connection(wire: Wire) {
        let (base, mock) = wire.mock(Script::new().text("Hel").hang()).await;
        let providers = providers(wire.settings(&base));
        let mut stream = wire.start(&providers).await.unwrap();
        let first = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
        assert_eq!(first, Some(Ok(ProviderEvent::Delta("Hel".into()))));
        assert_eq!(mock.client_closed(), 0);
        drop(stream);
        assert!(
            mock.wait_client_closed(1, WAIT).await,
            "the upstream saw the close"
        );
    }
}
