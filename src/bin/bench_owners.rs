//! `bench_owners`: how fast the owners' reads are on a big client (issue 14): analytics over
//! 30 days and the conversation list (first page and a deep cursor), on a fresh SQLite file
//! (or `--database-url` for PostgreSQL) filled with `--messages` messages (default
//! 1,000,000) in sessions of 10 messages spread over 30 days.
//!
//! ```sh
//! cargo run --release --bin bench_owners
//! cargo run --release --bin bench_owners -- --messages 100000 --runs 5
//! ```

use std::time::{Duration, Instant};

use chatbot::auth::api_key::first_keys;
use chatbot::db::analytics::{self, Range};
use chatbot::db::conversations::{self, SessionCursor, SessionFilter};
use chatbot::db::{Db, clients, now_ms};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Messages to store (half questions, half replies)
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Messages per session
    #[arg(long, default_value_t = 10)]
    per_session: usize,
    /// Timed runs of each read (the median is reported)
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// SQL to run after filling (e.g. an index to try)
    #[arg(long)]
    extra_sql: Option<String>,
    /// A database to fill instead of a fresh SQLite file (it must be empty)
    #[arg(long)]
    database_url: Option<String>,
}

const DAY_MS: i64 = 86_400_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn timed<F, Fut, T>(runs: usize, mut f: F) -> anyhow::Result<(Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        last = Some(f().await?);
        times.push(started.elapsed());
    }
    Ok((median(times), last.expect("at least one run")))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file = std::env::temp_dir().join(format!("bench-owners-{}.db", std::process::id()));
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", file.display()));
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let client =
        clients::create_client_with_keys(&db, "Bench shop", &[], None, first_keys()).await?;
    let client_id = client.client.id;

    let now = now_ms();
    let sessions = args.messages.div_ceil(args.per_session);
    let started = Instant::now();
    let span = 30 * DAY_MS;
    let mut tx = db.pool.begin().await?;
    for s in 0..sessions {
        let sid = format!("bench-{s:08}");
        let t = now - span + (span / sessions as i64) * s as i64;
        sqlx::query("INSERT INTO chat_sessions (id, client_id, user_identifier, config, created_at, last_activity) VALUES ($1, $2, $3, '{}', $4, $5)")
            .bind(&sid)
            .bind(&client_id)
            .bind(format!("visitor-{}", s % 5000))
            .bind(t)
            .bind(t + args.per_session as i64 * 1000)
            .execute(&mut *tx)
            .await?;
        for m in 0..args.per_session {
            let user = m % 2 == 0;
            sqlx::query("INSERT INTO messages (id, session_id, role, content, provider, model, status, created_at, ttft_ms, total_ms, prompt_tokens, completion_tokens) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
                .bind(format!("{sid}-{m:03}"))
                .bind(&sid)
                .bind(if user { "user" } else { "assistant" })
                .bind(if user { "What does the blue widget cost?" } else { "The blue widget costs 9.99 and ships in two days." })
                .bind((!user).then_some("openai"))
                .bind((!user).then_some(if s % 3 == 0 { "gpt-4o-mini" } else { "gpt-4o" }))
                .bind((!user).then_some("complete"))
                .bind(t + m as i64 * 1000)
                .bind((!user).then_some(200 + (s as i64 * 37 + m as i64) % 800))
                .bind((!user).then_some(1500 + (s as i64 * 53 + m as i64) % 4000))
                .bind((!user).then_some(400i64))
                .bind((!user).then_some(60i64))
                .execute(&mut *tx)
                .await?;
        }
        if s % 2000 == 1999 {
            tx.commit().await?;
            tx = db.pool.begin().await?;
        }
    }
    tx.commit().await?;
    if let Err(e) = db.checkpoint().await {
        eprintln!("checkpoint: {e}");
    }
    if let Some(sql) = &args.extra_sql {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&db.pool)
            .await?;
    }
    sqlx::query("ANALYZE").execute(&db.pool).await?;
    println!(
        "filled {} sessions, {} messages in {:.1} s ({})",
        sessions,
        sessions * args.per_session,
        started.elapsed().as_secs_f64(),
        if args.database_url.is_some() {
            "given database"
        } else {
            "SQLite file"
        }
    );

    // As the endpoint reads it: whole hours.
    let range = Range::whole_hours(now - span, now + 1, DAY_MS);
    let (t, report) = timed(args.runs, || async {
        Ok(analytics::report(&db, &client_id, range).await?)
    })
    .await?;
    println!(
        "analytics, 30 days by day: {:.1} ms (replies {}, ttft p50 {:?})",
        t.as_secs_f64() * 1000.0,
        report.totals.replies,
        report.totals.ttft.percentile(50.0)
    );

    let filter = SessionFilter::default();
    let (t, first) = timed(args.runs, || async {
        Ok(conversations::list_sessions(&db, &client_id, &filter, 51).await?)
    })
    .await?;
    println!(
        "sessions, first page of 50: {:.1} ms",
        t.as_secs_f64() * 1000.0
    );
    let _ = first;
    // A deep cursor: past 90 % of the sessions.
    let deep = SessionFilter {
        after: Some(SessionCursor {
            last_activity: now - span + span / 10,
            id: "bench-99999999".into(),
        }),
        ..Default::default()
    };
    let (t, page) = timed(args.runs, || async {
        Ok(conversations::list_sessions(&db, &client_id, &deep, 51).await?)
    })
    .await?;
    println!(
        "sessions, a page of 50 past 90 % of them: {:.1} ms ({} rows)",
        t.as_secs_f64() * 1000.0,
        page.len()
    );
    if args.database_url.is_none() {
        db.pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }
    Ok(())
}
