//! What the providers' unit tests share: providers with a short retry pause, and reading a
//! provider stream to its end.

use std::time::Duration;

use futures::StreamExt;

use super::{ProviderError, ProviderEvent, ProviderSettings, ProviderStream, Providers};

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
