//! Test helper: a webhook receiver on 127.0.0.1 (a tiny hand-written HTTP/1.1 server, like
//! mock_upstream.rs), recording every request it gets and answering the statuses a test
//! scripts (the last one repeated), so tests see what the service sent and can make it retry.
//!
//! ```text
//! let receiver = Receiver::start(vec![500, 500, 200]).await;
//! // register receiver.url as a webhook, make an event, then:
//! let got = receiver.wait_for(3, Duration::from_secs(10)).await;
//! assert!(verify(&secret, &got[2]));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// What the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`
    pub url: String,
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A receiver on a free port answering `statuses` in turn (the last one repeated).
    pub async fn start(statuses: Vec<u16>) -> Self {
        Self::start_on(0, statuses, Duration::ZERO).await
    }

    /// The same on `port` (0: any free port), waiting `delay` before each answer.
    pub async fn start_on(port: u16, statuses: Vec<u16>, delay: Duration) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the receiver binds");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            let statuses = Arc::new(statuses);
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (log, statuses) = (log.clone(), statuses.clone());
                tokio::spawn(async move {
                    let _ = serve(socket, log, &statuses, delay).await;
                });
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            received,
            task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` requests came; answers them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// True when the request's `Chatbot-Signature` is `t=<t>,v1=<hex HMAC-SHA256(secret,
/// "<t>.<body>")>` over the body received, with `t` within five minutes of now.
pub fn verify(secret: &str, r: &Received) -> bool {
    let Some(header) = r.header("chatbot-signature") else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = chrono::Utc::now().timestamp();
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    mac.verify_slice(&v1).is_ok()
}

async fn serve(
    mut socket: TcpStream,
    log: Arc<Mutex<Vec<Received>>>,
    statuses: &[u16],
    delay: Duration,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let answered = {
        let mut log = log.lock().unwrap();
        let status = statuses
            .get(log.len())
            .or(statuses.last())
            .copied()
            .unwrap_or(200);
        log.push(Received {
            path,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
            answered: status,
        });
        status
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = format!(
        "HTTP/1.1 {answered} X\r\ncontent-length: 2\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nok"
    );
    socket.write_all(reply.as_bytes()).await?;
    socket.shutdown().await
}
