//! Admin sessions across replicas: two real `miroir` processes on one real Redis. A session
//! opened on one is accepted by the other, and a logout on one is refused by the other on its
//! very next request — also when that replica's pub/sub connection was killed before the
//! logout, so it cannot have heard the revocation broadcast.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use miroir_system_tests::command;
use miroir_test_support::process::{HttpReply, Process, http, http_get, loopback_port, wait_until};
use miroir_test_support::{RedisServer, Reply, unique_prefix};

const ADMIN_KEY: &str = "admin-secret";

/// `miroir` on a free port over `store_url`, once it serves (the store is migrated).
fn miroir(store_url: &str) -> (Process, u16) {
    let port = loopback_port().unwrap();
    let process = Process::spawn(
        command("miroir-edge", "miroir")
            .env("MIROIR_TASK_STORE_URL", store_url)
            .env("MIROIR_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("MIROIR_ADMIN_API_KEY", ADMIN_KEY)
            .env("MIROIR_READINESS_INTERVAL_MS", "100")
            .stdout(Stdio::null()),
    )
    .unwrap();
    wait_until("miroir to be ready", Duration::from_secs(20), || {
        http_get(port, "/_miroir/ready", &[("X-Admin-Key", ADMIN_KEY)])
            .is_some_and(|reply| reply.status == 200)
    });
    (process, port)
}

/// The cookie and CSRF token of a login on `port`.
struct Login {
    cookie: String,
    csrf_token: String,
}

fn login(port: u16) -> Login {
    let reply = http(
        port,
        "POST",
        "/_miroir/admin/login",
        &[],
        &format!(r#"{{"adminKey": "{ADMIN_KEY}"}}"#),
    )
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let set_cookie = reply.header("set-cookie").unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("miroir_admin_session="), "{set_cookie}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    Login {
        cookie,
        csrf_token: body["csrfToken"].as_str().unwrap().to_owned(),
    }
}

/// `GET /_miroir/leases` (an operator route) authenticated by the session cookie alone.
fn leases_with_cookie(port: u16, login: &Login) -> HttpReply {
    http_get(port, "/_miroir/leases", &[("Cookie", &login.cookie)]).unwrap()
}

fn session_with_cookie(port: u16, login: &Login) -> HttpReply {
    http_get(port, "/_miroir/admin/session", &[("Cookie", &login.cookie)]).unwrap()
}

fn logout(port: u16, login: &Login) -> HttpReply {
    http(
        port,
        "POST",
        "/_miroir/admin/logout",
        &[
            ("Cookie", &login.cookie),
            ("X-CSRF-Token", &login.csrf_token),
        ],
        "",
    )
    .unwrap()
}

/// Two replicas on a fresh Redis; `kill_pubsub` kills every pub/sub connection of the server
/// (`CLIENT KILL TYPE pubsub`) between the login and the logout.
fn logout_on_one_replica_is_seen_by_the_other(kill_pubsub: bool) {
    let redis = RedisServer::start().unwrap();
    let url = redis.store_url(&unique_prefix("admin-sessions"), Duration::from_secs(2));
    let migrated = command("miroir-migrate", "miroir-migrate")
        .args(["up", "--store", &url])
        .output()
        .unwrap();
    assert_eq!(migrated.status.code(), Some(0), "{migrated:?}");
    let (_a, port_a) = miroir(&url);
    let (_b, port_b) = miroir(&url);

    let session = login(port_a);
    let on_b = session_with_cookie(port_b, &session);
    assert_eq!(
        on_b.status, 200,
        "the cookie of A works on B: {}",
        on_b.body
    );
    assert!(on_b.body.contains(r#""expiresAt""#), "{}", on_b.body);
    let probe = leases_with_cookie(port_b, &session);
    assert_eq!(probe.status, 200, "{}", probe.body);
    // A mutation on B needs the token A issued.
    let refused = http(
        port_b,
        "POST",
        "/_miroir/admin/logout",
        &[("Cookie", &session.cookie)],
        "",
    )
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("miroir_csrf_mismatch"),
        "{}",
        refused.body
    );

    if kill_pubsub {
        let killed = redis
            .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
            .unwrap();
        assert!(matches!(killed, Reply::Integer(_)), "{killed:?}");
    }
    let out = logout(port_a, &session);
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(
        out.header("set-cookie")
            .is_some_and(|cookie| cookie.starts_with("miroir_admin_session=;")
                && cookie.contains("Max-Age=0")),
        "{:?}",
        out.headers
    );

    // B's very next request with the cookie is refused.
    let after = leases_with_cookie(port_b, &session);
    assert_eq!(after.status, 401, "{}", after.body);
    assert!(after.body.contains("miroir_invalid_auth"), "{}", after.body);
    assert_eq!(session_with_cookie(port_b, &session).status, 401);
    assert_eq!(leases_with_cookie(port_a, &session).status, 401);
    // The key still works on both, and a new login on B works on A.
    for port in [port_a, port_b] {
        let keyed = http_get(port, "/_miroir/leases", &[("X-Admin-Key", ADMIN_KEY)]).unwrap();
        assert_eq!(keyed.status, 200, "{}", keyed.body);
    }
    let again = login(port_b);
    assert_eq!(session_with_cookie(port_a, &again).status, 200);
}

#[test]
fn a_logout_on_one_replica_is_refused_by_the_other_on_its_next_request() {
    logout_on_one_replica_is_seen_by_the_other(false);
}

#[test]
fn a_replica_that_missed_the_revocation_message_still_refuses_the_cookie() {
    logout_on_one_replica_is_seen_by_the_other(true);
}

/// The login rate limit is shared: attempts on A and B count in one per-IP window.
#[test]
fn the_login_rate_limit_is_shared_by_the_replicas() {
    let redis = RedisServer::start().unwrap();
    let url = redis.store_url(&unique_prefix("admin-login-limit"), Duration::from_secs(2));
    let migrated = command("miroir-migrate", "miroir-migrate")
        .args(["up", "--store", &url])
        .output()
        .unwrap();
    assert_eq!(migrated.status.code(), Some(0), "{migrated:?}");
    let (_a, port_a) = miroir(&url);
    let (_b, port_b) = miroir(&url);
    // 10 bad bodies, alternating replicas: each counts, none is a failed login.
    for attempt in 0..10 {
        let port = if attempt % 2 == 0 { port_a } else { port_b };
        let reply = http(port, "POST", "/_miroir/admin/login", &[], "{}").unwrap();
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
    let reply = http(
        port_a,
        "POST",
        "/_miroir/admin/login",
        &[],
        &format!(r#"{{"adminKey": "{ADMIN_KEY}"}}"#),
    )
    .unwrap();
    assert_eq!(reply.status, 429, "{}", reply.body);
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(
        reply.body.contains("miroir_too_many_requests"),
        "{}",
        reply.body
    );
}
