//! The environment-override scheme, applied to the parsed YAML document before it is typed.
//!
//! - `miroir.a.b_c` is set by `MIROIR_A__B_C`: strip `MIROIR_`, lowercase, split on `__`.
//!   List entries are addressed by index (`MIROIR_NODES__0__ADDRESS`); the index may be the
//!   list's length to append an entry.
//! - A key whose default is a string (keys, URLs, paths, enum names) takes the value verbatim.
//!   Any other key parses it as YAML, so `64`, `true` and whole lists or sections
//!   (`MIROIR_NODES='[{id: a, address: "http://a:7700"}]'`) work.
//! - Aliases: `MIROIR_ADMIN_API_KEY` = `admin.api_key`; `MIROIR_TASK_STORE_URL` = `task_store.url`
//!   and, unless `MIROIR_TASK_STORE__BACKEND` is set, `task_store.backend` from the URL scheme;
//!   `MIROIR_HTTP_ADDR=host:port` = `server.bind` and `server.port`. (`MIROIR_MASTER_KEY` and
//!   `MIROIR_NODE_MASTER_KEY` are plain instances of the scheme.)
//! - An empty variable is ignored. A variable whose first segment is not a top-level key
//!   (`MIROIR_CONFIG`, `MIROIR_LOG`, …) is not a config override and is ignored. Two variables
//!   setting one key to different values are refused.

use serde_yaml_ng::{Mapping, Value};

use super::env_source::EnvSource;
use super::error::ConfigError;

/// Prefix of every Miroir environment variable.
pub(super) const ENV_PREFIX: &str = "MIROIR_";

/// Which environment variable set which key path (`miroir.health.interval_ms`), so errors about
/// a key can name the variable.
#[derive(Debug, Default)]
pub(super) struct Origins(Vec<(String, String)>);

impl Origins {
    /// The variable that set `key` or a section or list containing it.
    pub(super) fn var_for(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(path, _)| {
                key == path
                    || key
                        .strip_prefix(path.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .max_by_key(|(path, _)| path.len())
            .map(|(_, var)| var.as_str())
    }
}

/// One key set by one variable.
#[derive(Debug)]
struct Assignment {
    var: String,
    /// Key path below `miroir`, lowercase.
    segments: Vec<String>,
    value: Value,
    /// Derived (the backend implied by `MIROIR_TASK_STORE_URL`): dropped when a variable sets
    /// the same key explicitly.
    derived: bool,
}

/// Applies every override of `env` to `miroir_section` (the value under the top-level `miroir`
/// key). `schema` is the embedded default's `miroir` section with one template entry per list;
/// it tells which keys exist and which take strings verbatim.
pub(super) fn apply(
    miroir_section: &mut Value,
    schema: &Value,
    env: &impl EnvSource,
) -> Result<Origins, ConfigError> {
    let mut vars = env.vars_with_prefix(ENV_PREFIX);
    vars.sort();
    let mut assignments = Vec::new();
    for (var, raw) in vars {
        if !raw.is_empty() {
            assignments.extend(assignments_of(&var, &raw, schema)?);
        }
    }
    let assignments = resolve_conflicts(assignments)?;
    let mut origins = Origins::default();
    for assignment in assignments {
        let segments: Vec<&str> = assignment.segments.iter().map(String::as_str).collect();
        let path = set(
            miroir_section,
            schema,
            &segments,
            assignment.value,
            &assignment.var,
        )?;
        origins.0.push((path, assignment.var));
    }
    Ok(origins)
}

fn assignments_of(var: &str, raw: &str, schema: &Value) -> Result<Vec<Assignment>, ConfigError> {
    let assignment = |segments: &[&str], value: Value| Assignment {
        var: var.to_owned(),
        segments: segments
            .iter()
            .map(|segment| (*segment).to_owned())
            .collect(),
        value,
        derived: false,
    };
    let string = |text: &str| Value::String(text.to_owned());
    match var {
        "MIROIR_ADMIN_API_KEY" => Ok(vec![assignment(&["admin", "api_key"], string(raw))]),
        "MIROIR_TASK_STORE_URL" => {
            let mut assignments = vec![assignment(&["task_store", "url"], string(raw))];
            if let Some(backend) = backend_of_url(raw) {
                let mut backend = assignment(&["task_store", "backend"], string(backend));
                backend.derived = true;
                assignments.push(backend);
            }
            Ok(assignments)
        }
        "MIROIR_HTTP_ADDR" => {
            let (host, port) = parse_http_addr(raw).map_err(|reason| ConfigError::Env {
                var: var.to_owned(),
                reason,
            })?;
            Ok(vec![
                assignment(&["server", "bind"], string(host)),
                assignment(&["server", "port"], Value::Number(port.into())),
            ])
        }
        _ => {
            let Some(name) = var.strip_prefix(ENV_PREFIX) else {
                return Ok(Vec::new());
            };
            let lowercase = name.to_ascii_lowercase();
            let segments: Vec<&str> = lowercase.split("__").collect();
            let is_config_key = segments.first().is_some_and(|first| {
                schema
                    .as_mapping()
                    .is_some_and(|keys| keys.contains_key(*first))
            });
            if !is_config_key {
                return Ok(Vec::new());
            }
            for depth in 1..segments.len() {
                if let Some(leaf) = schema_at(schema, &segments[..depth]) {
                    if !leaf.is_mapping() && !leaf.is_sequence() {
                        return Err(ConfigError::Env {
                            var: var.to_owned(),
                            reason: format!(
                                "miroir.{} is a value, not a section",
                                segments[..depth].join(".")
                            ),
                        });
                    }
                }
            }
            let value = if matches!(schema_at(schema, &segments), Some(Value::String(_))) {
                string(raw)
            } else {
                serde_yaml_ng::from_str(raw).map_err(|error| ConfigError::Env {
                    var: var.to_owned(),
                    reason: format!("not a valid yaml value: {error}"),
                })?
            };
            Ok(vec![assignment(&segments, value)])
        }
    }
}

/// The default at a key path (list indexes address the template entry), if the key exists.
fn schema_at<'a>(schema: &'a Value, segments: &[&str]) -> Option<&'a Value> {
    segments
        .iter()
        .try_fold(schema, |node, segment| match node {
            Value::Mapping(mapping) => mapping.get(*segment),
            Value::Sequence(entries) => segment.parse::<usize>().ok().and_then(|_| entries.first()),
            _ => None,
        })
}

fn backend_of_url(url: &str) -> Option<&'static str> {
    match url.trim().split_once(':')?.0 {
        "sqlite" => Some("sqlite"),
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => Some("redis"),
        _ => None,
    }
}

/// `host:port`, `[v6]:port`; the host may be a name or an address.
fn parse_http_addr(raw: &str) -> Result<(&str, u16), String> {
    let invalid = || format!("expected host:port (e.g. 127.0.0.1:7700), got `{raw}`");
    let (host, port) = raw.trim().rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(invalid());
    }
    let port = port.parse::<u16>().map_err(|_| invalid())?;
    Ok((host, port))
}

fn resolve_conflicts(assignments: Vec<Assignment>) -> Result<Vec<Assignment>, ConfigError> {
    let mut kept: Vec<Assignment> = Vec::new();
    for assignment in assignments {
        let same_key = kept
            .iter()
            .position(|other| other.segments == assignment.segments);
        match same_key {
            None => kept.push(assignment),
            Some(index) => {
                let other = &kept[index];
                if assignment.derived {
                    continue;
                }
                if other.derived {
                    kept[index] = assignment;
                } else if other.value != assignment.value {
                    return Err(ConfigError::Env {
                        var: assignment.var.clone(),
                        reason: format!(
                            "sets miroir.{} like {} does, to another value; set only one",
                            assignment.segments.join("."),
                            other.var
                        ),
                    });
                }
            }
        }
    }
    // Whole sections and lists first, so deeper keys land inside them.
    kept.sort_by_key(|assignment| assignment.segments.len());
    Ok(kept)
}

/// Sets `value` at `segments` below `root`, creating sections as needed; returns the full key
/// path (`miroir.nodes[0].address`).
fn set(
    root: &mut Value,
    schema: &Value,
    segments: &[&str],
    value: Value,
    var: &str,
) -> Result<String, ConfigError> {
    let refuse = |reason: String| ConfigError::Env {
        var: var.to_owned(),
        reason,
    };
    let mut path = "miroir".to_owned();
    let mut node = root;
    for (depth, segment) in segments.iter().enumerate() {
        if node.is_null() {
            let is_list = schema_at(schema, &segments[..depth]).is_some_and(Value::is_sequence);
            *node = if is_list {
                Value::Sequence(Vec::new())
            } else {
                Value::Mapping(Mapping::new())
            };
        }
        node = match node {
            Value::Mapping(mapping) => {
                path.push('.');
                path.push_str(segment);
                mapping
                    .entry(Value::String((*segment).to_owned()))
                    .or_insert(Value::Null)
            }
            Value::Sequence(entries) => {
                let index = segment.parse::<usize>().map_err(|_| {
                    refuse(format!(
                        "{path} is a list: expected an entry index, got `{segment}`"
                    ))
                })?;
                if index > entries.len() {
                    return Err(refuse(format!(
                        "{path} has {} entries: index {index} would leave a gap",
                        entries.len()
                    )));
                }
                if index == entries.len() {
                    entries.push(Value::Null);
                }
                path.push_str(&format!("[{index}]"));
                &mut entries[index]
            }
            _ => return Err(refuse(format!("{path} is a value, not a section"))),
        };
    }
    *node = value;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_addr_accepts_names_v4_and_v6() {
        assert_eq!(parse_http_addr("0.0.0.0:80"), Ok(("0.0.0.0", 80)));
        assert_eq!(parse_http_addr("localhost:7700"), Ok(("localhost", 7700)));
        assert_eq!(parse_http_addr("[::1]:7701"), Ok(("::1", 7701)));
        for bad in ["7700", ":7700", "host:", "host:99999", "host:http"] {
            assert!(parse_http_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_match_whole_segments_only() {
        let origins = Origins(vec![
            ("miroir.nodes".to_owned(), "MIROIR_NODES".to_owned()),
            (
                "miroir.nodes[1].id".to_owned(),
                "MIROIR_NODES__1__ID".to_owned(),
            ),
            ("miroir.shards".to_owned(), "MIROIR_SHARDS".to_owned()),
        ]);
        assert_eq!(
            origins.var_for("miroir.nodes[0].address"),
            Some("MIROIR_NODES")
        );
        assert_eq!(
            origins.var_for("miroir.nodes[1].id"),
            Some("MIROIR_NODES__1__ID")
        );
        assert_eq!(origins.var_for("miroir.shards"), Some("MIROIR_SHARDS"));
        assert_eq!(origins.var_for("miroir.shards_x"), None);
    }
}
