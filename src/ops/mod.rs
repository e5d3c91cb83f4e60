//! Watching the service run: what this process is doing right now (`live`: streams open,
//! replies in flight, uptime) and which instance it is (`instance_id`), read by the staff's
//! health page and the metrics endpoint.

pub mod live;

/// This process's id among the instances sharing a database: `INSTANCE_ID` when set, else
/// `<hostname>-<pid>-<random>`. Read from [`crate::config::Settings::instance_id`], the one
/// place every part of the service (health, metrics, coordination between instances) takes
/// it from.
pub fn make_instance_id(configured: Option<String>) -> String {
    if let Some(id) = configured {
        return id;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let random = &uuid::Uuid::new_v4().simple().to_string()[..6];
    format!("{host}-{}-{random}", std::process::id())
}
