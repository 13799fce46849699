//! API keys as Meilisearch defines them: the key a client sends (derived from the master key and
//! the key's uid, so no secret is ever stored), the actions a key can hold, index uid patterns,
//! and what a key allows.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Every action a key can hold, in Meilisearch 1.50's order (as its `invalid_api_key_actions`
/// message lists them).
pub const ACTIONS: &[&str] = &[
    "*",
    "search",
    "documents.*",
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.*",
    "indexes.create",
    "indexes.get",
    "indexes.update",
    "indexes.delete",
    "indexes.swap",
    "tasks.*",
    "tasks.cancel",
    "tasks.delete",
    "tasks.get",
    "settings.*",
    "settings.get",
    "settings.update",
    "stats.*",
    "stats.get",
    "metrics.*",
    "metrics.get",
    "dumps.*",
    "dumps.create",
    "snapshots.*",
    "snapshots.create",
    "version",
    "keys.create",
    "keys.get",
    "keys.update",
    "keys.delete",
    "experimental.get",
    "experimental.update",
    "export",
    "network.get",
    "network.update",
    "chatCompletions",
    "chats.*",
    "chats.get",
    "chats.delete",
    "chatsSettings.*",
    "chatsSettings.get",
    "chatsSettings.update",
    "*.get",
    "webhooks.get",
    "webhooks.update",
    "webhooks.delete",
    "webhooks.create",
    "webhooks.*",
    "indexes.compact",
    "fields.post",
    "tasks.compact",
    "dynamicSearchRules.get",
    "dynamicSearchRules.create",
    "dynamicSearchRules.update",
    "dynamicSearchRules.delete",
    "dynamicSearchRules.*",
];

/// The key a client sends for the key with `uid`: `hex(HMAC-SHA256(master_key, uid))`, as
/// Meilisearch derives it.
pub fn derive_key(master_key: &str, uid: &str) -> String {
    // HMAC accepts a key of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(master_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(uid.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// True when `pattern` is a valid index uid pattern: an index uid (`[A-Za-z0-9_-]`, at least one
/// character), optionally ending with `*`, or `*` alone.
pub fn is_index_pattern(pattern: &str) -> bool {
    let stem = pattern.strip_suffix('*').unwrap_or(pattern);
    (stem.is_empty() && pattern == "*")
        || (!stem.is_empty()
            && stem
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'))
}

/// True when index uid `index` matches `pattern` (`*` matches every index, `prod_*` every index
/// starting with `prod_`).
pub fn pattern_matches(pattern: &str, index: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => index.starts_with(prefix),
        None => pattern == index,
    }
}

/// True when a key holding action `granted` may perform `needed`: `*` allows everything,
/// `documents.*` every `documents.` action, `*.get` every `.get` action.
pub fn action_allows(granted: &str, needed: &str) -> bool {
    if granted == "*" || granted == needed {
        return true;
    }
    if let Some(family) = granted.strip_suffix(".*") {
        return needed
            .strip_prefix(family)
            .is_some_and(|rest| rest.starts_with('.'));
    }
    granted == "*.get" && needed.ends_with(".get")
}

/// What a request needs from a key: an action, and the index it acts on, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The Meilisearch action (`search`, `documents.add`, …).
    pub action: &'static str,
    /// The index uid in the path, if the route names one.
    pub index: Option<String>,
}

/// The action `method path` needs, as Meilisearch maps its routes (and the index the path
/// names); `None` for routes no API key may call (only the master key).
pub fn requirement(method: &str, path: &str) -> Option<Requirement> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = method == "GET";
    let (action, index): (&'static str, Option<&str>) = match segments.as_slice() {
        ["indexes"] if get => ("indexes.get", None),
        ["indexes"] if method == "POST" => ("indexes.create", None),
        ["indexes", uid] => (
            match method {
                "GET" => "indexes.get",
                "PATCH" => "indexes.update",
                "DELETE" => "indexes.delete",
                _ => return None,
            },
            Some(uid),
        ),
        ["indexes", uid, "search" | "facet-search" | "similar"] => ("search", Some(uid)),
        ["indexes", uid, "documents", ..] => (
            match (method, segments.get(3).copied()) {
                ("GET", _) | ("POST", Some("fetch")) => "documents.get",
                ("POST" | "PUT", None) => "documents.add",
                ("POST", Some("edit")) => "documents.add",
                ("DELETE", _) | ("POST", Some("delete-batch" | "delete")) => "documents.delete",
                _ => return None,
            },
            Some(uid),
        ),
        ["indexes", uid, "settings", ..] => (
            if get {
                "settings.get"
            } else {
                "settings.update"
            },
            Some(uid),
        ),
        ["indexes", uid, "stats"] if get => ("stats.get", Some(uid)),
        ["multi-search"] => ("search", None),
        ["swap-indexes"] => ("indexes.swap", None),
        ["tasks"] if get => ("tasks.get", None),
        ["tasks"] if method == "DELETE" => ("tasks.delete", None),
        ["tasks", "cancel"] => ("tasks.cancel", None),
        ["tasks", _] if get => ("tasks.get", None),
        ["batches"] | ["batches", _] if get => ("tasks.get", None),
        ["stats"] if get => ("stats.get", None),
        ["version"] if get => ("version", None),
        ["keys"] if get => ("keys.get", None),
        ["keys"] if method == "POST" => ("keys.create", None),
        ["keys", _] => (
            match method {
                "GET" => "keys.get",
                "PATCH" => "keys.update",
                "DELETE" => "keys.delete",
                _ => return None,
            },
            None,
        ),
        ["dumps"] => ("dumps.create", None),
        ["snapshots"] => ("snapshots.create", None),
        ["experimental-features"] => (
            if get {
                "experimental.get"
            } else {
                "experimental.update"
            },
            None,
        ),
        ["network"] => (if get { "network.get" } else { "network.update" }, None),
        _ => return None,
    };
    Some(Requirement {
        action,
        index: index.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_derive_as_meilisearch_derives_them() {
        // A real Meilisearch 1.50 started with this master key answered this key for this uid.
        assert_eq!(
            derive_key(
                "MASTER_KEY_123456789",
                "877e1afa-2c4c-4ad8-b66a-2c1b54c88e7e"
            ),
            "dfaefd47e4045cdeeb637c013007073eb3b94ad8619b75341c8e20b5989641f2"
        );
    }

    #[test]
    fn patterns() {
        for valid in ["*", "movies", "prod_*", "a-b_9", "7"] {
            assert!(is_index_pattern(valid), "{valid}");
        }
        for invalid in ["", "**", "bad index!", "a*b", "*a"] {
            assert!(!is_index_pattern(invalid), "{invalid}");
        }
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("prod_*", "prod_movies"));
        assert!(pattern_matches("prod_*", "prod_"));
        assert!(!pattern_matches("prod_*", "dev_movies"));
        assert!(pattern_matches("movies", "movies"));
        assert!(!pattern_matches("movies", "movies2"));
    }

    #[test]
    fn actions() {
        assert!(action_allows("*", "keys.delete"));
        assert!(action_allows("documents.*", "documents.add"));
        assert!(!action_allows("documents.*", "documentsx.add"));
        assert!(!action_allows("documents.*", "search"));
        assert!(action_allows("*.get", "tasks.get"));
        assert!(!action_allows("*.get", "version"));
        assert!(!action_allows("search", "documents.get"));
        assert!(ACTIONS.iter().all(|action| action_allows(action, action)));
    }

    #[test]
    fn routes_need_meilisearchs_actions() {
        let needs = |method, path| requirement(method, path).map(|r| (r.action, r.index));
        assert_eq!(
            needs("POST", "/indexes/movies/search"),
            Some(("search", Some("movies".to_owned())))
        );
        assert_eq!(
            needs("POST", "/indexes/movies/documents/delete-batch"),
            Some(("documents.delete", Some("movies".to_owned())))
        );
        assert_eq!(
            needs("PUT", "/indexes/movies/documents"),
            Some(("documents.add", Some("movies".to_owned())))
        );
        assert_eq!(
            needs("GET", "/indexes/movies/documents/7"),
            Some(("documents.get", Some("movies".to_owned())))
        );
        assert_eq!(
            needs("PATCH", "/indexes/movies/settings/synonyms"),
            Some(("settings.update", Some("movies".to_owned())))
        );
        assert_eq!(needs("POST", "/tasks/cancel"), Some(("tasks.cancel", None)));
        assert_eq!(needs("GET", "/batches/3"), Some(("tasks.get", None)));
        assert_eq!(needs("DELETE", "/keys/abc"), Some(("keys.delete", None)));
        assert_eq!(needs("GET", "/nowhere"), None);
    }
}
