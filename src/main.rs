//! The `chatbot` binary: parses the command line and runs one subcommand.

use clap::{Parser, Subcommand};

use anyhow::Context;
use chatbot::app::{Application, openapi_json, shutdown_signal};
use chatbot::config::{LogFormat, Settings};
use chatbot::domain::KeyKind;
use chatbot::{cli, telemetry};

#[derive(Parser)]
#[command(
    name = "chatbot",
    version,
    about = "An AI chat assistant for any website, in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the docs and the widget (the default)
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// Manage clients (tenants)
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage user accounts (staff)
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the OpenAPI spec
    Openapi,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Make an existing account staff (it reaches /api/admin and every client)
    Promote {
        /// The account's email
        #[arg(long)]
        email: String,
    },
    /// Create an active account; its password is the first line of standard input
    #[command(
        after_help = "Example:\n  printf '%s\\n' \"$ADMIN_PASSWORD\" | chatbot user create --email admin@example.com --password-stdin --staff"
    )]
    Create {
        /// The account's email
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required: passwords never go in arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the account staff
        #[arg(long)]
        staff: bool,
        /// text or json
        #[arg(long, value_enum, default_value_t)]
        format: cli::Format,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Create a client and print its id, secret key and publishable key (shown only once)
    #[command(
        after_help = "Example, setting CHATBOT_CLIENT_ID, CHATBOT_SECRET_KEY and CHATBOT_PUBLISHABLE_KEY in your shell:\n  eval \"$(chatbot client create --name \"My site\" --origin http://localhost:3000 --format env)\""
    )]
    Create {
        /// The client's name
        #[arg(long)]
        name: String,
        /// An origin the widget may be used from, such as https://example.com (repeatable).
        /// http://localhost:3000 and http://127.0.0.1:3000 are two different origins.
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// The email of an account that owns the client (it then shows in their account)
        #[arg(long, value_name = "EMAIL")]
        owner: Option<String>,
        /// text, json, or env (CHATBOT_CLIENT_ID=… lines for `eval "$(…)"`)
        #[arg(long, value_enum, default_value_t)]
        format: cli::Format,
    },
    /// List every client with its owner, origins and keys (ids and prefixes, never the keys)
    List {
        /// text or json
        #[arg(long, value_enum, default_value_t)]
        format: cli::Format,
    },
    /// Add or revoke a client's keys
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make a new key for a client and print it (shown only once)
    Add {
        /// The client's id (see `chatbot client list`)
        #[arg(long = "client", value_name = "CLIENT_ID")]
        client: String,
        /// secret (for servers) or publishable (for the widget, from allowed origins)
        #[arg(long, value_parser = ["secret", "publishable"])]
        kind: String,
        /// text, json, or env (CHATBOT_…_KEY=… lines for `eval "$(…)"`)
        #[arg(long, value_enum, default_value_t)]
        format: cli::Format,
    },
    /// Revoke a key: it answers 401 from then on
    Revoke {
        /// The client's id
        #[arg(long = "client", value_name = "CLIENT_ID")]
        client: String,
        /// The key's id (see `chatbot client list`)
        #[arg(long = "key", value_name = "KEY_ID")]
        key: String,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            // One line: what is wrong, and where to look.
            let rendered = e.render().to_string();
            let what: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let what = what.join(" ");
            eprintln!(
                "error: {} (see `chatbot --help`)",
                what.trim_start_matches("error: ")
            );
            std::process::exit(2);
        }
    };
    if let Err(err) = run(cli) {
        let message = format!("{err:#}");
        if std::env::var("LOG_FORMAT").is_ok_and(|f| f.trim() == "json") {
            eprintln!(
                "{}",
                serde_json::json!({ "level": "ERROR", "message": format!("error: {message}") })
            );
        } else {
            eprintln!("error: {message}");
        }
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Openapi) = cli.command {
        println!("{}", openapi_json());
        return Ok(());
    }
    let settings = Settings::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(settings)),
        Command::Migrate => {
            telemetry::init(settings.log_format, &settings.rust_log);
            runtime.block_on(cli::migrate(&settings))?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Client { command } => {
            let out = runtime.block_on(client_command(&settings, command))?;
            print!("{out}");
            Ok(())
        }
        Command::User { command } => {
            let out = runtime.block_on(user_command(&settings, command))?;
            print!("{out}");
            Ok(())
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

async fn client_command(settings: &Settings, command: ClientCommand) -> anyhow::Result<String> {
    match command {
        ClientCommand::Create {
            name,
            origins,
            owner,
            format,
        } => cli::create_client(settings, &name, &origins, owner.as_deref(), format).await,
        ClientCommand::List { format } => cli::list_clients(settings, format).await,
        ClientCommand::Key {
            command:
                KeyCommand::Add {
                    client,
                    kind,
                    format,
                },
        } => {
            let kind = KeyKind::parse(&kind).context("--kind must be secret or publishable")?;
            cli::add_key(settings, &client, kind, format).await
        }
        ClientCommand::Key {
            command: KeyCommand::Revoke { client, key },
        } => cli::revoke_key(settings, &client, &key).await,
    }
}

async fn user_command(settings: &Settings, command: UserCommand) -> anyhow::Result<String> {
    match command {
        UserCommand::Promote { email } => cli::promote_user(settings, &email).await,
        UserCommand::Create {
            email,
            password_stdin: _,
            staff,
            format,
        } => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']).to_string();
            cli::create_user(settings, &email, password, staff, format).await
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log_format, &settings.rust_log);
    install_panic_hook(settings.log_format);
    raise_open_files_limit();
    if settings.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: generated one for this start, so sign-ins end when the process restarts"
        );
    }
    let app = Application::build(settings.clone()).await?;
    tracing::info!(
        port = app.port(),
        public_url = %settings.public_url,
        provider = settings.ai_provider.as_str(),
        "chatbot is serving: open {}/ (links to the widget demo, the API docs and the console)",
        settings.public_url
    );
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Each open stream holds sockets; raise the soft limit of open files to the hard one.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
    }
}

/// Panics go through tracing, so with `LOG_FORMAT=json` they are JSON lines too.
fn install_panic_hook(format: LogFormat) {
    if format == LogFormat::Json {
        std::panic::set_hook(Box::new(|info| {
            tracing::error!(panic = %info, "panic");
        }));
    }
}
