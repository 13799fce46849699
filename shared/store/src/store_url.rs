//! Parsing of the one URL that selects a backend: `sqlite:///abs.db`, `sqlite://rel.db`,
//! `sqlite::memory:`, `redis://host:port/db`, `rediss://host:port/db`,
//! `redis+cluster://host:port,host:port`, `rediss+cluster://host:port,host:port`.

use std::fmt;
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

/// A parsed store URL. Parse with [`StoreUrl::parse`]; `Display` and `Debug` redact passwords.
#[derive(Clone, PartialEq, Eq)]
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
    /// A Redis Cluster (`redis+cluster://h1:p1,h2:p2` or TLS `rediss+cluster://…`), reached
    /// through the listed nodes (the others are discovered). Same parameters as `redis://`.
    RedisCluster {
        /// One `redis://[user:password@]host:port` (or `rediss://`) URL per listed node.
        node_urls: Vec<String>,
        /// `?timeout_ms=N` (default 2000): bound on connecting and on each command.
        timeout: Duration,
        /// `?prefix=NAME` (default `miroir`): first segment of every key.
        key_prefix: String,
    },
}

impl fmt::Debug for StoreUrl {
    /// Like a derived `Debug`, with every password in a Redis URL replaced by `***`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite {
                location,
                synchronous,
                busy_timeout,
            } => formatter
                .debug_struct("Sqlite")
                .field("location", location)
                .field("synchronous", synchronous)
                .field("busy_timeout", busy_timeout)
                .finish(),
            Self::Redis {
                connection_url,
                timeout,
                key_prefix,
            } => formatter
                .debug_struct("Redis")
                .field("connection_url", &redact(connection_url))
                .field("timeout", timeout)
                .field("key_prefix", key_prefix)
                .finish(),
            Self::RedisCluster {
                node_urls,
                timeout,
                key_prefix,
            } => formatter
                .debug_struct("RedisCluster")
                .field(
                    "node_urls",
                    &node_urls.iter().map(|url| redact(url)).collect::<Vec<_>>(),
                )
                .field("timeout", timeout)
                .field("key_prefix", key_prefix)
                .finish(),
        }
    }
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
            "redis+cluster" | "rediss+cluster" => {
                parse_redis_cluster(raw).map_err(|reason| invalid(&reason))
            }
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
            StoreUrl::RedisCluster { node_urls, .. } => {
                let scheme = if node_urls.iter().any(|url| url.starts_with("rediss:")) {
                    "rediss+cluster"
                } else {
                    "redis+cluster"
                };
                let nodes: Vec<String> = node_urls
                    .iter()
                    .filter_map(|node| url::Url::parse(node).ok())
                    .map(|node| {
                        format!(
                            "{}:{}",
                            node.host_str().unwrap_or_default(),
                            node.port().unwrap_or(DEFAULT_REDIS_PORT)
                        )
                    })
                    .collect();
                write!(formatter, "{scheme}://{}", nodes.join(","))
            }
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
    let params: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let params = RedisParams::parse(params)?;
    if params.passthrough.is_empty() {
        parsed.set_query(None);
    } else {
        parsed
            .query_pairs_mut()
            .clear()
            .extend_pairs(&params.passthrough);
    }
    Ok(StoreUrl::Redis {
        connection_url: parsed.to_string(),
        timeout: params.timeout,
        key_prefix: params.key_prefix,
    })
}

/// Port of a cluster node given without one.
const DEFAULT_REDIS_PORT: u16 = 6379;

fn parse_redis_cluster(raw: &str) -> Result<StoreUrl, String> {
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or("expected redis+cluster://host:port,host:port")?;
    let node_scheme = scheme.trim_end_matches("+cluster");
    let (location, params) = split_query(rest);
    let (authority, path) = location
        .split_once('/')
        .map_or((location, ""), |(authority, path)| (authority, path));
    if !path.is_empty() && path != "0" {
        return Err(format!(
            "a Redis Cluster has only database 0, got `/{path}`"
        ));
    }
    let (credentials, hosts) = match authority.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), authority),
    };
    let node_urls = hosts
        .split(',')
        .map(|host| {
            if host.is_empty() {
                return Err("empty node address (redis+cluster://host:port,host:port)".to_owned());
            }
            let node = format!("{node_scheme}://{credentials}{host}");
            let parsed =
                url::Url::parse(&node).map_err(|error| format!("node `{host}`: {error}"))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(format!("node `{host}` has no host"));
            }
            Ok(format!(
                "{node_scheme}://{credentials}{}:{}",
                parsed.host_str().unwrap_or_default(),
                parsed.port().unwrap_or(DEFAULT_REDIS_PORT)
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let params = RedisParams::parse(params)?;
    if !params.passthrough.is_empty() {
        return Err("`protocol` and `insecure` are not supported on cluster urls".to_owned());
    }
    Ok(StoreUrl::RedisCluster {
        node_urls,
        timeout: params.timeout,
        key_prefix: params.key_prefix,
    })
}

/// The query parameters of a Redis URL.
struct RedisParams {
    timeout: Duration,
    key_prefix: String,
    /// Parameters the redis client itself understands, kept on the connection URL.
    passthrough: Vec<(String, String)>,
}

impl RedisParams {
    fn parse(params: Vec<(String, String)>) -> Result<Self, String> {
        let mut parsed = RedisParams {
            timeout: DEFAULT_OPERATION_TIMEOUT,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            passthrough: Vec::new(),
        };
        for (key, value) in params {
            match key.as_str() {
                "timeout_ms" => parsed.timeout = parse_millis(&key, &value)?,
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
                    parsed.key_prefix = value;
                }
                "protocol" | "insecure" => parsed.passthrough.push((key, value)),
                _ => {
                    return Err(format!(
                        "unknown parameter `{key}` (known: timeout_ms, prefix, protocol)"
                    ));
                }
            }
        }
        Ok(parsed)
    }
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
    fn debug_never_shows_a_password() {
        for raw in [
            "redis://:s3cret-pw@127.0.0.1:6379/0",
            "rediss://user:s3cret-pw@cache.example:6380/1?timeout_ms=500",
            "redis+cluster://:s3cret-pw@h1:7000,h2:7001",
        ] {
            let url = StoreUrl::parse(raw).expect(raw);
            let debug = format!("{url:?} {url:#?}");
            assert!(!debug.contains("s3cret-pw"), "{debug}");
            assert!(debug.contains("***"), "{debug}");
        }
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

    #[test]
    fn cluster_urls_list_every_node_with_credentials_and_default_ports() {
        let Ok(StoreUrl::RedisCluster {
            node_urls,
            timeout,
            key_prefix,
        }) = StoreUrl::parse(
            "redis+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2/?prefix=p&timeout_ms=900",
        )
        else {
            panic!("cluster url must parse");
        };
        assert_eq!(
            node_urls,
            [
                "redis://app:s3cret@10.0.0.1:7000",
                "redis://app:s3cret@10.0.0.2:6379"
            ]
        );
        assert_eq!(timeout, Duration::from_millis(900));
        assert_eq!(key_prefix, "p");
        let parsed = StoreUrl::parse("rediss+cluster://app:s3cret@a:1,b:2").expect("tls cluster");
        assert_eq!(parsed.to_string(), "rediss+cluster://a:1,b:2");
        for bad in [
            "redis+cluster://",
            "redis+cluster://a:1,,b:2",
            "redis+cluster://a:1/3",
            "redis+cluster://a:notaport",
            "redis+cluster://a:1?colour=blue",
        ] {
            assert!(
                matches!(StoreUrl::parse(bad), Err(StoreError::InvalidUrl { .. })),
                "{bad} must be refused"
            );
        }
    }
}
