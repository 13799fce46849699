//! Parsing of the one URL that selects a backend: `sqlite:///abs.db`, `sqlite://rel.db`,
//! `sqlite::memory:`, `redis://host:port/db`, `rediss://host:port/db`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::StoreError;

/// Default bound on one backend round trip; past it a call fails with `Unavailable`.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

/// Default first segment of every Redis key.
pub const DEFAULT_KEY_PREFIX: &str = "miroir";

/// SQLite `synchronous` level. See the crate docs, "Durability".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// Survives a crash of the process; a power loss may roll back the last commits (WAL + NORMAL).
    #[default]
    Normal,
    /// Survives power loss: one fsync per commit.
    Full,
}

/// Where a SQLite store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteLocation {
    /// A database file (created when missing).
    File(PathBuf),
    /// A private in-memory database, gone when the store is dropped (tests only).
    Memory,
}

/// A parsed store URL. Parse with [`StoreUrl::parse`]; `Display` redacts passwords.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// Embedded SQLite.
    Sqlite {
        /// File or memory.
        location: SqliteLocation,
        /// `?synchronous=normal|full` (default normal).
        synchronous: SqliteSync,
        /// `?busy_timeout_ms=N` (default the operation timeout): how long a writer waits for a lock.
        busy_timeout: Duration,
    },
    /// A standalone Redis server (`redis://` or TLS `rediss://`).
    Redis {
        /// The URL handed to the redis client, query parameters of Miroir removed.
        connection_url: String,
        /// `?timeout_ms=N` (default 2000): bound on connecting and on each command.
        timeout: Duration,
        /// `?prefix=NAME` (default `miroir`): first segment of every key, so several Miroir
        /// deployments (or test runs) can share one Redis database.
        key_prefix: String,
    },
}

impl StoreUrl {
    /// Parses a store URL, refusing unknown schemes and malformed parameters with
    /// [`StoreError::InvalidUrl`].
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidUrl {
            url: redact(raw),
            reason: reason.to_owned(),
        };
        let raw = raw.trim();
        let (scheme, _) = raw
            .split_once(':')
            .ok_or_else(|| invalid("missing scheme; expected sqlite:// or redis://"))?;
        match scheme {
            "sqlite" => parse_sqlite(raw).map_err(|reason| invalid(&reason)),
            "redis" | "rediss" => parse_redis(raw).map_err(|reason| invalid(&reason)),
            "redis+cluster" | "rediss+cluster" => Err(invalid(
                "redis cluster urls are not supported by this build yet; use redis://",
            )),
            other => Err(invalid(&format!(
                "unknown scheme `{other}`; expected sqlite or redis"
            ))),
        }
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite {
                location: SqliteLocation::Memory,
                ..
            } => formatter.write_str("sqlite::memory:"),
            StoreUrl::Sqlite {
                location: SqliteLocation::File(path),
                ..
            } => write!(formatter, "sqlite://{}", path.display()),
            StoreUrl::Redis { connection_url, .. } => formatter.write_str(&redact(connection_url)),
        }
    }
}

/// Replaces the password of a URL (if any) with `***` so it can be logged.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => raw.to_owned(),
        // Unparseable: still never echo what could be a secret after `:` and before `@`.
        Err(_) => match (raw.find("://"), raw.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}://***{}", &raw[..start], &raw[at..])
            }
            _ => raw.to_owned(),
        },
    }
}

fn split_query(rest: &str) -> (&str, Vec<(String, String)>) {
    match rest.split_once('?') {
        None => (rest, Vec::new()),
        Some((path, query)) => (
            path,
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        ),
    }
}

fn parse_millis(key: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(millis) if millis > 0 => Ok(Duration::from_millis(millis)),
        _ => Err(format!(
            "`{key}` must be a positive integer of milliseconds, got `{value}`"
        )),
    }
}

fn parse_sqlite(raw: &str) -> Result<StoreUrl, String> {
    let (location_part, params) = split_query(raw);
    let location = if location_part == "sqlite::memory:" || location_part == "sqlite://:memory:" {
        SqliteLocation::Memory
    } else if let Some(path) = location_part.strip_prefix("sqlite://") {
        if path.is_empty() || path == "/" {
            return Err(
                "missing database path (sqlite:///abs/path.db or sqlite://rel/path.db)".into(),
            );
        }
        SqliteLocation::File(PathBuf::from(path))
    } else {
        return Err(
            "expected sqlite:///abs/path.db, sqlite://rel/path.db or sqlite::memory:".into(),
        );
    };
    let mut synchronous = SqliteSync::default();
    let mut busy_timeout = DEFAULT_OPERATION_TIMEOUT;
    for (key, value) in params {
        match key.as_str() {
            "synchronous" => {
                synchronous = match value.to_ascii_lowercase().as_str() {
                    "normal" => SqliteSync::Normal,
                    "full" => SqliteSync::Full,
                    _ => {
                        return Err(format!(
                            "`synchronous` must be normal or full, got `{value}`"
                        ));
                    }
                }
            }
            "busy_timeout_ms" => busy_timeout = parse_millis(&key, &value)?,
            _ => {
                return Err(format!(
                    "unknown parameter `{key}` (known: synchronous, busy_timeout_ms)"
                ));
            }
        }
    }
    Ok(StoreUrl::Sqlite {
        location,
        synchronous,
        busy_timeout,
    })
}

fn parse_redis(raw: &str) -> Result<StoreUrl, String> {
    let mut parsed = url::Url::parse(raw).map_err(|error| error.to_string())?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("missing host (redis://host:port/db)".into());
    }
    let database = parsed.path().trim_start_matches('/');
    if !database.is_empty() && database.parse::<u16>().is_err() {
        return Err(format!("database must be a number, got `{database}`"));
    }
    let mut timeout = DEFAULT_OPERATION_TIMEOUT;
    let mut key_prefix = DEFAULT_KEY_PREFIX.to_owned();
    let mut passthrough = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "timeout_ms" => timeout = parse_millis(&key, &value)?,
            "prefix" => {
                let valid = !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !valid {
                    return Err(format!(
                        "`prefix` must be non-empty [A-Za-z0-9_-], got `{value}`"
                    ));
                }
                key_prefix = value.into_owned();
            }
            // Parameters the redis client itself understands.
            "protocol" | "insecure" => passthrough.push((key.into_owned(), value.into_owned())),
            _ => {
                return Err(format!(
                    "unknown parameter `{key}` (known: timeout_ms, prefix, protocol)"
                ));
            }
        }
    }
    if passthrough.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(passthrough);
    }
    Ok(StoreUrl::Redis {
        connection_url: parsed.to_string(),
        timeout,
        key_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_absolute_relative_and_memory() {
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/miroir/tasks.db").ok(),
            Some(StoreUrl::Sqlite {
                location: SqliteLocation::File("/var/lib/miroir/tasks.db".into()),
                synchronous: SqliteSync::Normal,
                busy_timeout: DEFAULT_OPERATION_TIMEOUT,
            })
        );
        assert!(matches!(
            StoreUrl::parse("sqlite://.miroir/tasks.db?synchronous=full"),
            Ok(StoreUrl::Sqlite { location: SqliteLocation::File(path), synchronous: SqliteSync::Full, .. })
                if path == std::path::Path::new(".miroir/tasks.db")
        ));
        assert!(matches!(
            StoreUrl::parse("sqlite::memory:"),
            Ok(StoreUrl::Sqlite {
                location: SqliteLocation::Memory,
                ..
            })
        ));
    }

    #[test]
    fn redis_urls_keep_db_and_strip_miroir_parameters() {
        let Ok(StoreUrl::Redis {
            connection_url,
            timeout,
            key_prefix,
        }) = StoreUrl::parse("redis://127.0.0.1:6379/3?timeout_ms=500&prefix=test-1")
        else {
            panic!("redis url must parse");
        };
        assert_eq!(connection_url, "redis://127.0.0.1:6379/3");
        assert_eq!(timeout, Duration::from_millis(500));
        assert_eq!(key_prefix, "test-1");
        assert!(StoreUrl::parse("rediss://cache.example.com:6380/0").is_ok());
    }

    #[test]
    fn refuses_bad_urls_with_reasons_and_no_secrets() {
        for bad in [
            "postgres://localhost/db",
            "sqlite://",
            "sqlite:/x.db",
            "redis://:6379",
            "redis://localhost:6379/abc",
            "redis://localhost?timeout_ms=0",
            "redis://localhost?colour=blue",
            "redis://localhost?prefix=a:b",
            "sqlite://x.db?synchronous=sometimes",
            "nonsense",
        ] {
            assert!(
                matches!(StoreUrl::parse(bad), Err(StoreError::InvalidUrl { .. })),
                "{bad} must be refused"
            );
        }
        let Err(error) = StoreUrl::parse("redis://user:hunter2@localhost:6379/x") else {
            panic!("bad database must be refused");
        };
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
