//! Settings read once from the environment (and a `.env` file), with the names and defaults
//! of API.md's Configuration table. Secrets live in [`Secret`], which never prints.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::domain::{ProviderKind, SignupMode};

/// Which database a `DATABASE_URL` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            bail!("DATABASE_URL must start with sqlite:// or postgres://")
        }
    }
}

/// The default `OPENAI_BASE_URL`; with it, an API key is required.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// The default `ANTHROPIC_BASE_URL` (no version: `/v1/messages` is appended).
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The default `OPENAI_MODEL`.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o";
/// The default `CLAUDE_MODEL`.
pub const DEFAULT_CLAUDE_MODEL: &str = "claude-3-5-haiku-20241022";

/// Everything the providers need from the environment; filled by the config module.
#[derive(Clone)]
pub struct ProviderSettings {
    pub openai_api_key: Option<String>,
    /// Includes the version, e.g. `https://api.openai.com/v1`.
    pub openai_base_url: String,
    pub openai_model: String,
    pub anthropic_api_key: Option<String>,
    /// Without the version, e.g. `https://api.anthropic.com`.
    pub anthropic_base_url: String,
    pub claude_model: String,
    /// Time allowed to open a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Time allowed from sending the request to the first text token.
    pub first_token_timeout: Duration,
    /// Time allowed between two events once tokens flow.
    pub idle_timeout: Duration,
    /// Retries before the first token (connection failures, 429, 5xx).
    pub max_retries: u32,
    /// Pause between the words of an offline answer, so it streams like the real thing.
    pub offline_word_delay: Duration,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            openai_api_key: None,
            openai_base_url: DEFAULT_OPENAI_BASE_URL.to_owned(),
            openai_model: DEFAULT_OPENAI_MODEL.to_owned(),
            anthropic_api_key: None,
            anthropic_base_url: DEFAULT_ANTHROPIC_BASE_URL.to_owned(),
            claude_model: DEFAULT_CLAUDE_MODEL.to_owned(),
            connect_timeout: Duration::from_secs(10),
            first_token_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_retries: 2,
            offline_word_delay: Duration::from_millis(25),
        }
    }
}

// Written by hand so that API keys never reach a log line.
impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |key: &Option<String>| key.as_ref().map(|_| "[redacted]");
        f.debug_struct("ProviderSettings")
            .field("openai_api_key", &redact(&self.openai_api_key))
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_model", &self.openai_model)
            .field("anthropic_api_key", &redact(&self.anthropic_api_key))
            .field("anthropic_base_url", &self.anthropic_base_url)
            .field("claude_model", &self.claude_model)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_token_timeout", &self.first_token_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_retries", &self.max_retries)
            .field("offline_word_delay", &self.offline_word_delay)
            .finish()
    }
}

/// A value that must never reach a log line or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The one deliberate way to read the value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct GoogleSettings {
    pub client_id: String,
    pub client_secret: Secret,
    pub auth_url: String,
    pub token_url: String,
    pub userinfo_url: String,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub database_url: Secret,
    pub public_url: String,
    pub jwt_secret: Secret,
    /// True when `JWT_SECRET` was not set and one was generated for this start.
    pub jwt_secret_generated: bool,
    pub ai_provider: ProviderKind,
    pub providers: ProviderSettings,
    pub google: Option<GoogleSettings>,
    pub frontend_url: Option<String>,
    pub session_timeout: Duration,
    pub rate_limit_per_minute: u32,
    /// `RATE_LIMIT_PUBLISHABLE_PER_MINUTE`: requests a minute per publishable key overall,
    /// all its visitors together (default five times `RATE_LIMIT_PER_MINUTE`).
    pub rate_limit_publishable_per_minute: u32,
    pub log_format: LogFormat,
    pub rust_log: String,
    /// How long a finished reply's buffer stays in memory for late resumes.
    pub reply_retention: Duration,
    /// Interval of `: ping` comments on idle streams.
    pub ping_interval: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// `SHUTDOWN_DRAIN`: how long a stopping instance keeps accepting (answering `/healthz`
    /// with 503) so its load balancer sees it leave.
    pub shutdown_drain: Duration,
    /// Creates a demo client whose publishable key the demo page uses.
    pub demo_client: bool,
    /// Timeouts and connection caps of the HTTP server.
    pub edge: EdgeSettings,
    /// The demo client may use the configured provider: only with `DEMO_CLIENT=true` set
    /// explicitly; by default it answers with the offline provider.
    pub demo_client_paid: bool,
    /// `SIGNUP_MODE`: `open` (default), `approval` (new accounts pending) or `closed`.
    pub signup_mode: SignupMode,
    /// `INSTANCE_ID`, else `<hostname>-<pid>-<random>` made once per start
    /// (`ops::make_instance_id`): which instance this is, in health, metrics and logs.
    pub instance_id: String,
    /// Webhook delivery (`WEBHOOK_*`).
    pub webhooks: WebhookSettings,
}

/// How webhooks are delivered (API.md, "Webhooks").
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `WEBHOOK_ALLOW_PRIVATE` (default false): allow URLs that resolve to loopback, private,
    /// link-local or unspecified addresses (development and tests only).
    pub allow_private: bool,
    /// `WEBHOOK_TIMEOUT` (default 10 s): the longest one delivery request may take.
    pub timeout: Duration,
    /// `WEBHOOK_CONCURRENCY` (default 4): deliveries in flight at once per instance.
    pub concurrency: usize,
    /// `WEBHOOK_RETRY_BASE_MS` (default 10,000; meant for tests): the first retry's delay;
    /// later ones grow from it (x3, x12, x60, then x360 until 24 hours have passed).
    pub retry_base: Duration,
}

impl WebhookSettings {
    fn from_lookup(var: &impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let concurrency: usize = parse_or(var, "WEBHOOK_CONCURRENCY", 4)?;
        let retry_base_ms: u64 = parse_or(var, "WEBHOOK_RETRY_BASE_MS", 10_000)?;
        if concurrency == 0 || retry_base_ms == 0 {
            bail!("WEBHOOK_CONCURRENCY and WEBHOOK_RETRY_BASE_MS must be at least 1");
        }
        Ok(Self {
            allow_private: parse_or(var, "WEBHOOK_ALLOW_PRIVATE", false)?,
            timeout: secs(var, "WEBHOOK_TIMEOUT", Duration::from_secs(10))?,
            concurrency,
            retry_base: Duration::from_millis(retry_base_ms),
        })
    }
}

/// What the HTTP server allows a connection: how long a request's head and body may take
/// to arrive, and how many connections may be open (in all, and from one address).
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// `HEADER_READ_TIMEOUT` (default 10 s): the longest a request's head may take, from the
    /// first byte (or the end of the previous response, so it bounds idle keep-alive too).
    pub header_read_timeout: Duration,
    /// `BODY_READ_TIMEOUT` (default 15 s): the longest wait for the next piece of a body.
    pub body_read_timeout: Duration,
    /// `MAX_CONNECTIONS`: open connections in all (default: below the open-files limit).
    pub max_connections: Option<usize>,
    /// `MAX_CONNECTIONS_PER_IP` (default 256; 0 = no cap): open connections from one address.
    pub max_connections_per_ip: usize,
}

impl EdgeSettings {
    fn from_lookup(var: &impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let header_read_timeout = secs(var, "HEADER_READ_TIMEOUT", Duration::from_secs(10))?;
        let body_read_timeout = secs(var, "BODY_READ_TIMEOUT", Duration::from_secs(15))?;
        if header_read_timeout.is_zero() || body_read_timeout.is_zero() {
            bail!("HEADER_READ_TIMEOUT and BODY_READ_TIMEOUT must be above 0");
        }
        let max_connections: Option<usize> = match var("MAX_CONNECTIONS") {
            Some(v) => Some(v.parse().ok().filter(|n| *n > 0).with_context(|| {
                format!("MAX_CONNECTIONS must be a positive number, got {v:?}")
            })?),
            None => None,
        };
        Ok(Self {
            header_read_timeout,
            body_read_timeout,
            max_connections,
            max_connections_per_ip: parse_or(var, "MAX_CONNECTIONS_PER_IP", 256)?,
        })
    }
}

/// Shortest `JWT_SECRET` accepted outside development.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// True when the URL's host is `localhost` (or `*.localhost`) or a loopback address: a
/// development setup, where a short `JWT_SECRET` is allowed.
pub fn is_loopback_url(u: &str) -> bool {
    let Ok(parsed) = url::Url::parse(u) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Settings {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> anyhow::Result<Self> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings from a map; tests use it to build settings without touching the
    /// process environment.
    pub fn from_map(map: &HashMap<String, String>) -> anyhow::Result<Self> {
        Self::from_lookup(|k| map.get(k).cloned())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let host = var("HOST").unwrap_or_else(|| "0.0.0.0".into());
        let port: u16 = match var("PORT") {
            Some(p) => p
                .parse()
                .with_context(|| format!("PORT must be a port number, got {p:?}"))?,
            None => 8000,
        };
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://chatbot.db".into());
        DbKind::from_url(&database_url)?;
        let public_url = var("PUBLIC_URL")
            .unwrap_or_else(|| format!("http://localhost:{port}"))
            .trim_end_matches('/')
            .to_string();
        url::Url::parse(&public_url)
            .with_context(|| format!("PUBLIC_URL is not a URL: {public_url:?}"))?;
        let (jwt_secret, jwt_secret_generated) = match var("JWT_SECRET") {
            Some(s) if s.len() < MIN_JWT_SECRET_BYTES && !is_loopback_url(&public_url) => bail!(
                "JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (it is {}): anyone who guesses it can sign in as any user. \
                 Make one with `openssl rand -base64 48`; short secrets are accepted only when PUBLIC_URL is localhost",
                s.len()
            ),
            Some(s) => (Secret::new(s), false),
            None => (Secret::new(crate::domain::secret::random_token(32)), true),
        };
        let ai_provider = match var("AI_PROVIDER") {
            Some(p) => p.parse().map_err(|_| {
                anyhow::anyhow!("AI_PROVIDER must be one of offline, openai, claude; got {p:?}")
            })?,
            None => ProviderKind::Offline,
        };
        let defaults = ProviderSettings::default();
        let providers = ProviderSettings {
            openai_api_key: var("OPENAI_API_KEY"),
            openai_base_url: var("OPENAI_BASE_URL").unwrap_or(defaults.openai_base_url.clone()),
            openai_model: var("OPENAI_MODEL").unwrap_or(defaults.openai_model.clone()),
            anthropic_api_key: var("ANTHROPIC_API_KEY"),
            anthropic_base_url: var("ANTHROPIC_BASE_URL")
                .unwrap_or(defaults.anthropic_base_url.clone()),
            claude_model: var("CLAUDE_MODEL").unwrap_or(defaults.claude_model.clone()),
            connect_timeout: secs(&var, "PROVIDER_CONNECT_TIMEOUT", defaults.connect_timeout)?,
            first_token_timeout: secs(
                &var,
                "PROVIDER_FIRST_TOKEN_TIMEOUT",
                defaults.first_token_timeout,
            )?,
            idle_timeout: secs(&var, "PROVIDER_IDLE_TIMEOUT", defaults.idle_timeout)?,
            max_retries: parse_or(&var, "PROVIDER_MAX_RETRIES", defaults.max_retries)?,
            offline_word_delay: match var("OFFLINE_WORD_DELAY_MS") {
                Some(v) => Duration::from_millis(v.parse().with_context(|| {
                    format!("OFFLINE_WORD_DELAY_MS must be milliseconds, got {v:?}")
                })?),
                None => defaults.offline_word_delay,
            },
        };
        let google = match (var("GOOGLE_CLIENT_ID"), var("GOOGLE_CLIENT_SECRET")) {
            (Some(client_id), Some(secret)) => Some(GoogleSettings {
                client_id,
                client_secret: Secret::new(secret),
                auth_url: var("GOOGLE_AUTH_URL")
                    .unwrap_or_else(|| "https://accounts.google.com/o/oauth2/v2/auth".into()),
                token_url: var("GOOGLE_TOKEN_URL")
                    .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
                userinfo_url: var("GOOGLE_USERINFO_URL")
                    .unwrap_or_else(|| "https://openidconnect.googleapis.com/v1/userinfo".into()),
            }),
            _ => None,
        };
        if let Some(g) = &google {
            for (key, value) in [
                ("GOOGLE_AUTH_URL", &g.auth_url),
                ("GOOGLE_TOKEN_URL", &g.token_url),
                ("GOOGLE_USERINFO_URL", &g.userinfo_url),
            ] {
                let ok = url::Url::parse(value)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !ok {
                    bail!("{key} must be an http(s) URL, got {value:?}");
                }
            }
        }
        let log_format = match var("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("LOG_FORMAT must be text or json, got {other:?}"),
        };
        let rate_limit_per_minute: u32 = parse_or(&var, "RATE_LIMIT_PER_MINUTE", 120)?;
        if rate_limit_per_minute == 0 {
            bail!("RATE_LIMIT_PER_MINUTE must be at least 1");
        }
        let rate_limit_publishable_per_minute: u32 = parse_or(
            &var,
            "RATE_LIMIT_PUBLISHABLE_PER_MINUTE",
            rate_limit_per_minute.saturating_mul(5),
        )?;
        if rate_limit_publishable_per_minute == 0 {
            bail!("RATE_LIMIT_PUBLISHABLE_PER_MINUTE must be at least 1");
        }
        let demo_client: bool = parse_or(&var, "DEMO_CLIENT", true)?;
        // Only an explicit DEMO_CLIENT=true lets the demo (a public page with a public key)
        // spend a paid provider's tokens.
        let demo_client_paid = demo_client && var("DEMO_CLIENT").is_some();
        Ok(Self {
            host,
            port,
            database_url: Secret::new(database_url),
            public_url,
            jwt_secret,
            jwt_secret_generated,
            ai_provider,
            providers,
            google,
            frontend_url: var("FRONTEND_URL").map(|u| u.trim_end_matches('/').to_string()),
            session_timeout: secs(&var, "CHAT_SESSION_TIMEOUT", Duration::from_secs(1800))?,
            rate_limit_per_minute,
            rate_limit_publishable_per_minute,
            log_format,
            rust_log: var("RUST_LOG").unwrap_or_else(|| "info".into()),
            reply_retention: secs(&var, "REPLY_RETENTION", Duration::from_secs(300))?,
            ping_interval: secs(&var, "SSE_PING_INTERVAL", Duration::from_secs(15))?,
            shutdown_grace: secs(&var, "SHUTDOWN_GRACE", Duration::from_secs(20))?,
            shutdown_drain: secs(&var, "SHUTDOWN_DRAIN", Duration::ZERO)?,
            demo_client,
            demo_client_paid,
            edge: EdgeSettings::from_lookup(&var)?,
            signup_mode: match var("SIGNUP_MODE") {
                Some(m) => m.parse().map_err(|e: String| anyhow::anyhow!(e))?,
                None => SignupMode::Open,
            },
            instance_id: crate::ops::make_instance_id(var("INSTANCE_ID")),
            webhooks: WebhookSettings::from_lookup(&var)?,
        })
    }

    /// The origin (scheme://host[:port]) of `PUBLIC_URL`, as browsers send it in `Origin`.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| self.public_url.clone())
    }
}

fn parse_or<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> anyhow::Result<T> {
    match var(key) {
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{key} has an invalid value {v:?}")),
        None => Ok(default),
    }
}

fn secs(
    var: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    match var(key) {
        Some(v) => {
            let n: f64 = v
                .parse()
                .map_err(|_| anyhow::anyhow!("{key} must be a number of seconds, got {v:?}"))?;
            if !(n.is_finite() && n >= 0.0) {
                bail!("{key} must be a non-negative number of seconds, got {v:?}");
            }
            Ok(Duration::from_secs_f64(n))
        }
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut map = HashMap::new();
        map.insert("JWT_SECRET".to_string(), "super-secret-value".to_string());
        map.insert("OPENAI_API_KEY".to_string(), "sk-live-abc".to_string());
        map.insert(
            "DATABASE_URL".to_string(),
            "postgres://u:pw-123@localhost/db".to_string(),
        );
        let s = Settings::from_map(&map).unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("super-secret-value"));
        assert!(!printed.contains("pw-123"));
        assert_eq!(s.jwt_secret.expose(), "super-secret-value");
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = Settings::from_map(&HashMap::new()).unwrap();
        assert_eq!(s.port, 8000);
        assert_eq!(s.host, "0.0.0.0");
        assert_eq!(s.public_url, "http://localhost:8000");
        assert_eq!(s.ai_provider, ProviderKind::Offline);
        assert_eq!(s.session_timeout, Duration::from_secs(1800));
        assert_eq!(s.rate_limit_per_minute, 120);
        assert_eq!(s.rate_limit_publishable_per_minute, 600);
        assert!(s.jwt_secret_generated);
    }

    #[test]
    fn google_is_on_with_both_credentials_and_its_urls_must_be_urls() {
        let mut map = HashMap::new();
        map.insert("GOOGLE_CLIENT_ID".to_string(), "id".to_string());
        assert!(Settings::from_map(&map).unwrap().google.is_none());
        map.insert("GOOGLE_CLIENT_SECRET".to_string(), "shh".to_string());
        let google = Settings::from_map(&map).unwrap().google.unwrap();
        assert!(google.auth_url.starts_with("https://accounts.google.com/"));
        map.insert("GOOGLE_TOKEN_URL".to_string(), "not a url".to_string());
        let err = Settings::from_map(&map).unwrap_err().to_string();
        assert!(err.contains("GOOGLE_TOKEN_URL"), "{err}");
    }

    #[test]
    fn a_short_jwt_secret_is_refused_outside_development() {
        let mut map = HashMap::new();
        map.insert("JWT_SECRET".to_string(), "a".to_string());
        // PUBLIC_URL defaults to localhost: development, accepted.
        assert!(Settings::from_map(&map).is_ok());
        for dev in [
            "http://127.0.0.1:8000",
            "http://[::1]:8000",
            "http://app.localhost",
        ] {
            map.insert("PUBLIC_URL".to_string(), dev.to_string());
            assert!(Settings::from_map(&map).is_ok(), "{dev}");
        }
        map.insert(
            "PUBLIC_URL".to_string(),
            "https://chat.example.com".to_string(),
        );
        let err = Settings::from_map(&map).unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET") && err.contains("32"), "{err}");
        assert!(!err.contains("\"a\""), "the secret is not printed: {err}");
        map.insert("JWT_SECRET".to_string(), "x".repeat(32));
        assert!(Settings::from_map(&map).is_ok());
        // Unset: one is generated, long enough.
        map.remove("JWT_SECRET");
        assert!(Settings::from_map(&map).unwrap().jwt_secret.expose().len() >= 32);
    }

    #[test]
    fn the_demo_client_uses_a_paid_provider_only_when_asked_explicitly() {
        let s = Settings::from_map(&HashMap::new()).unwrap();
        assert!(s.demo_client && !s.demo_client_paid);
        let mut map = HashMap::new();
        map.insert("DEMO_CLIENT".to_string(), "true".to_string());
        assert!(Settings::from_map(&map).unwrap().demo_client_paid);
        map.insert("DEMO_CLIENT".to_string(), "false".to_string());
        let s = Settings::from_map(&map).unwrap();
        assert!(!s.demo_client && !s.demo_client_paid);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for (k, v) in [
            ("PORT", "eighty"),
            ("DATABASE_URL", "mysql://x"),
            ("AI_PROVIDER", "gpt"),
            ("LOG_FORMAT", "xml"),
            ("SIGNUP_MODE", "invite"),
        ] {
            let mut map = HashMap::new();
            map.insert(k.to_string(), v.to_string());
            let err = Settings::from_map(&map).unwrap_err().to_string();
            assert!(
                err.contains(k) || err.contains("DATABASE_URL"),
                "{k}: {err}"
            );
        }
    }
}
