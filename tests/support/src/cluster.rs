//! [`RedisCluster`]: a real Redis Cluster of local cluster-mode `redis-server` processes, created
//! with `redis-cli --cluster create`, and [`key_slot`], Redis' key-to-slot function.
//!
//! The nodes are always local processes on loopback ports, even when a Docker engine answers: a
//! node in a container would announce its container address (in `CLUSTER SLOTS` and `MOVED`
//! redirects), which clients on the host cannot reach through published ports.

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::local::{LocalRedis, find_on_path};
use crate::resp::{self, Reply};
use crate::server::COMMAND_TIMEOUT;
use crate::watchdog::{Watchdog, reap};

/// Number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// The address every node listens on and announces.
const HOST: &str = "127.0.0.1";

/// How long `redis-cli --cluster create` may take (it waits until the nodes have met).
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the nodes may take, after `redis-cli` is done, to agree on a healthy cluster.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Message of the error when no `redis-cli` binary exists.
const NO_REDIS_CLI: &str = "no redis-cli to create the test Redis Cluster: install the Debian \
    package `redis-tools` (or put redis-cli next to the redis-server binary or on PATH)";

/// A Redis Cluster for tests: `masters` local cluster-mode servers on loopback ports, every slot
/// served by exactly one of them (no replicas).
///
/// Once [`RedisCluster::start`] returns, every node reports `cluster_state:ok`, knows every other
/// node and reports the same slot owners. Nodes are numbered `0..masters` in the order of
/// [`RedisCluster::ports`]. Dropping the value kills every node and removes their data
/// directories; the nodes are also killed when the test process dies.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<LocalRedis>,
}

impl RedisCluster {
    /// Starts `masters` cluster-mode servers (at least 3, as Redis Cluster requires), joins them
    /// with `redis-cli --cluster create … --cluster-replicas 0`, which spreads the 16384 slots
    /// evenly, and waits until every node reports a healthy cluster and the same slot owners.
    ///
    /// Fails with the output of `redis-cli` if it fails, or saying what to install if
    /// `redis-server` or `redis-cli` is missing.
    pub fn start(masters: usize) -> Result<Self, HarnessError> {
        if masters < 3 {
            return Err(HarnessError::new(format!(
                "a Redis Cluster needs at least 3 masters, {masters} asked"
            )));
        }
        let cli = redis_cli()?;
        let nodes = (0..masters)
            .map(|_| LocalRedis::start_cluster_node())
            .collect::<Result<Vec<_>, _>>()?;
        let cluster = Self { nodes };
        create(&cli, &cluster.ports())?;
        cluster.wait_until_ready()?;
        Ok(cluster)
    }

    /// The client ports of the nodes, node 0 first.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(LocalRedis::port).collect()
    }

    /// `redis+cluster://127.0.0.1:P0,127.0.0.1:P1,…`: every node as a seed, no database and no
    /// trailing slash.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports()
            .iter()
            .map(|port| format!("{HOST}:{port}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// A Miroir store URL on this cluster with its own key prefix and operation timeout, e.g.
    /// `redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002?prefix=t1_x&timeout_ms=2000`.
    pub fn store_url(&self, prefix: &str, timeout: Duration) -> String {
        format!(
            "{}?prefix={prefix}&timeout_ms={}",
            self.url(),
            timeout.as_millis().max(1)
        )
    }

    /// Sends one command to node `node` over a fresh connection and returns its reply. Server
    /// errors, such as the `MOVED <slot> <host>:<port>` of a node that does not serve the key's
    /// slot, are returned as [`Reply::Error`]; an unknown node index is a [`HarnessError`].
    pub fn command(&self, node: usize, args: &[&str]) -> Result<Reply, HarnessError> {
        let server = self.nodes.get(node).ok_or_else(|| {
            HarnessError::new(format!(
                "the test Redis Cluster has {} nodes, there is no node {node}",
                self.nodes.len()
            ))
        })?;
        resp::command(HOST, server.port(), args, COMMAND_TIMEOUT)
    }

    /// The slot ranges and the index of the node serving each, sorted by slot, as node 0 reports
    /// them (`CLUSTER SLOTS`; every node agreed when [`RedisCluster::start`] returned).
    pub fn slot_owners(&self) -> Result<Vec<(RangeInclusive<u16>, usize)>, HarnessError> {
        self.slot_owners_seen_by(0)
    }

    /// The number of keys matching the glob `pattern` stored on each node, node 0 first (a full
    /// `SCAN … MATCH pattern COUNT 1000` of each node, which in cluster mode sees only that
    /// node's keys; keys returned twice by a scan are counted once).
    pub fn count_keys_per_node(&self, pattern: &str) -> Result<Vec<u64>, HarnessError> {
        (0..self.nodes.len())
            .map(|node| {
                let mut keys = HashSet::new();
                let mut cursor = "0".to_owned();
                loop {
                    let reply =
                        self.command(node, &["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])?;
                    let (next, batch) = parse_scan(&reply).ok_or_else(|| {
                        HarnessError::new(format!(
                            "unexpected SCAN reply from node {node}: {reply:?}"
                        ))
                    })?;
                    keys.extend(batch);
                    if next == "0" {
                        break;
                    }
                    cursor = next;
                }
                Ok(keys.len() as u64)
            })
            .collect()
    }

    fn slot_owners_seen_by(
        &self,
        node: usize,
    ) -> Result<Vec<(RangeInclusive<u16>, usize)>, HarnessError> {
        let reply = self.command(node, &["CLUSTER", "SLOTS"])?;
        let unexpected = || {
            HarnessError::new(format!(
                "unexpected CLUSTER SLOTS reply from node {node}: {reply:?}"
            ))
        };
        let Reply::Array(Some(entries)) = &reply else {
            return Err(unexpected());
        };
        let ports = self.ports();
        let mut owners =
            entries
                .iter()
                .map(|entry| {
                    let (range, port) = parse_slots_entry(entry).ok_or_else(unexpected)?;
                    let owner = ports.iter().position(|&known| known == port).ok_or_else(|| {
                    HarnessError::new(format!(
                        "node {node} says slots {range:?} are served on port {port}, which is \
                         not a node of the test Redis Cluster ({ports:?})"
                    ))
                })?;
                    Ok((range, owner))
                })
                .collect::<Result<Vec<_>, HarnessError>>()?;
        owners.sort_by_key(|(range, _)| *range.start());
        Ok(owners)
    }

    /// Polls [`RedisCluster::check_ready`] until it passes or [`READY_TIMEOUT`] passes.
    fn wait_until_ready(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let problem = match self.check_ready() {
                Ok(()) => return Ok(()),
                Err(problem) => problem,
            };
            if Instant::now() > deadline {
                return Err(HarnessError::new(format!(
                    "the test Redis Cluster on ports {:?} is not ready {READY_TIMEOUT:?} after \
                     its creation: {problem}",
                    self.ports()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ok when every node reports `cluster_state:ok`, all slots served, every node known, and
    /// the same slot owners, covering every slot.
    fn check_ready(&self) -> Result<(), HarnessError> {
        let known_nodes = self.nodes.len().to_string();
        let mut agreed: Option<Vec<(RangeInclusive<u16>, usize)>> = None;
        for node in 0..self.nodes.len() {
            let info = match self.command(node, &["CLUSTER", "INFO"])? {
                Reply::Bulk(Some(info)) => String::from_utf8_lossy(&info).into_owned(),
                other => {
                    return Err(HarnessError::new(format!(
                        "unexpected CLUSTER INFO reply from node {node}: {other:?}"
                    )));
                }
            };
            for (field, expected) in [
                ("cluster_state", "ok"),
                ("cluster_slots_ok", "16384"),
                ("cluster_known_nodes", known_nodes.as_str()),
            ] {
                let actual = info_field(&info, field);
                if actual != Some(expected) {
                    return Err(HarnessError::new(format!(
                        "node {node} reports {field}:{} (waiting for {expected})",
                        actual.unwrap_or("<missing>")
                    )));
                }
            }
            let owners = self.slot_owners_seen_by(node)?;
            match &agreed {
                Some(first) if *first != owners => {
                    return Err(HarnessError::new(format!(
                        "node {node} sees slot owners {owners:?}, node 0 sees {first:?}"
                    )));
                }
                Some(_) => {}
                None => {
                    check_coverage(&owners)?;
                    agreed = Some(owners);
                }
            }
        }
        Ok(())
    }
}

/// Ok when `owners` (sorted) cover slots `0..16384` exactly once.
fn check_coverage(owners: &[(RangeInclusive<u16>, usize)]) -> Result<(), HarnessError> {
    let mut next: u32 = 0;
    for (range, _) in owners {
        if u32::from(*range.start()) != next || range.end() < range.start() {
            return Err(HarnessError::new(format!(
                "slot ranges {owners:?} leave a gap or overlap at slot {next}"
            )));
        }
        next = u32::from(*range.end()) + 1;
    }
    if next == u32::from(SLOTS) {
        Ok(())
    } else {
        Err(HarnessError::new(format!(
            "slot ranges {owners:?} end at slot {next}, not {SLOTS}"
        )))
    }
}

/// The value of `field` in a `CLUSTER INFO` text (`field:value` lines).
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .filter_map(|line| line.trim_end().split_once(':'))
        .find(|(name, _)| *name == field)
        .map(|(_, value)| value)
}

/// `[start, end, [ip, port, id, …], replicas…]` → (start..=end, master port).
fn parse_slots_entry(entry: &Reply) -> Option<(RangeInclusive<u16>, u16)> {
    let Reply::Array(Some(fields)) = entry else {
        return None;
    };
    let slot = |index: usize| match fields.get(index) {
        Some(Reply::Integer(slot)) => u16::try_from(*slot).ok().filter(|slot| *slot < SLOTS),
        _ => None,
    };
    let port = match fields.get(2) {
        Some(Reply::Array(Some(master))) => match master.get(1) {
            Some(Reply::Integer(port)) => u16::try_from(*port).ok()?,
            _ => return None,
        },
        _ => return None,
    };
    Some((slot(0)?..=slot(1)?, port))
}

/// `[cursor, [key…]]` → (next cursor, keys).
fn parse_scan(reply: &Reply) -> Option<(String, Vec<Vec<u8>>)> {
    let Reply::Array(Some(parts)) = reply else {
        return None;
    };
    match parts.as_slice() {
        [Reply::Bulk(Some(cursor)), Reply::Array(Some(keys))] => {
            let keys = keys
                .iter()
                .map(|key| match key {
                    Reply::Bulk(Some(key)) => Some(key.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some((String::from_utf8(cursor.clone()).ok()?, keys))
        }
        _ => None,
    }
}

/// The `redis-cli` binary: the one next to the `redis-server` binary the kit uses, else the first
/// on `PATH` or in the usual directories.
fn redis_cli() -> Result<PathBuf, HarnessError> {
    let server = LocalRedis::binary()?;
    server
        .parent()
        .map(|dir| dir.join("redis-cli"))
        .filter(|beside| beside.is_file())
        .or_else(|| find_on_path("redis-cli"))
        .ok_or_else(|| HarnessError::new(NO_REDIS_CLI))
}

/// Runs `redis-cli --cluster create` on the nodes listening on `ports`, killing it after
/// [`CREATE_TIMEOUT`] (or when the test process dies: it would otherwise wait forever for nodes
/// that are gone).
fn create(cli: &Path, ports: &[u16]) -> Result<(), HarnessError> {
    let addresses: Vec<String> = ports.iter().map(|port| format!("{HOST}:{port}")).collect();
    let failure = |what: String| {
        HarnessError::new(format!(
            "redis-cli --cluster create {}: {what}",
            addresses.join(" ")
        ))
    };
    let io = |what: &str, error: std::io::Error| failure(format!("cannot {what}: {error}"));
    // A file rather than pipes: nothing to drain while polling for the exit.
    let mut output = tempfile::tempfile().map_err(|error| io("create an output file", error))?;
    let stdout = output
        .try_clone()
        .map_err(|error| io("share the output file", error))?;
    let stderr = output
        .try_clone()
        .map_err(|error| io("share the output file", error))?;
    let mut child = Command::new(cli)
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        // redis-cli colours its output whenever TERM names an xterm, even into a file.
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|error| io(&format!("run {}", cli.display()), error))?;
    let mut watchdog = match Watchdog::spawn("kill -9", &child.id().to_string()) {
        Ok(watchdog) => watchdog,
        Err(error) => {
            reap(&mut child);
            return Err(error);
        }
    };
    let deadline = Instant::now() + CREATE_TIMEOUT;
    let status: Result<Option<ExitStatus>, std::io::Error> = loop {
        match child.try_wait() {
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => break other,
        }
    };
    // The watchdog goes first so it can never signal a reused pid.
    watchdog.disarm();
    reap(&mut child);
    let mut text = String::new();
    output
        .rewind()
        .and_then(|()| output.read_to_string(&mut text))
        .map_err(|error| io("read its output", error))?;
    match status {
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => Err(failure(format!("{status}: {}", tail(&text)))),
        Ok(None) => Err(failure(format!(
            "did not finish within {CREATE_TIMEOUT:?}: {}",
            tail(&text)
        ))),
        Err(error) => Err(io("wait for it", error)),
    }
}

/// The last lines of a command's output, for error messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(12)..].join(" | ")
}

/// The hash slot of `key` (`CLUSTER KEYSLOT`): CRC16-XMODEM of the key modulo 16384, where a key
/// with a hash tag — a non-empty part between its first `{` and the first `}` after it — is
/// hashed by that part only, so `{user1000}.following` and `{user1000}.followers` share a slot.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tag = bytes
        .iter()
        .position(|&byte| byte == b'{')
        .and_then(|open| {
            let after = bytes.split_at(open + 1).1;
            after
                .iter()
                .position(|&byte| byte == b'}')
                .filter(|&close| close > 0)
                .map(|close| after.split_at(close).0)
        });
    crc16_xmodem(tag.unwrap_or(bytes)) % SLOTS
}

/// CRC16-CCITT in its XMODEM variant (polynomial 0x1021, initial value 0), as Redis Cluster uses.
fn crc16_xmodem(data: &[u8]) -> u16 {
    data.iter().fold(0, |crc, &byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |crc, _| {
            if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{shared_redis_cluster, unique_prefix};

    /// Keys whose slots the tests compare with the server's `CLUSTER KEYSLOT`.
    const KEYS: &[&str] = &[
        "",
        "foo",
        "123456789",
        "user1000",
        "{user1000}.following",
        "{user1000}.followers",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "{bar",
        "}{",
        "miroir:t1_abc:task:42",
        "clé{ü}",
    ];

    fn owner_of(owners: &[(RangeInclusive<u16>, usize)], key: &str) -> usize {
        let slot = key_slot(key);
        owners
            .iter()
            .find(|(range, _)| range.contains(&slot))
            .map(|(_, node)| *node)
            .unwrap_or_else(|| panic!("no node serves slot {slot}"))
    }

    #[test]
    fn crc16_and_hash_tags_follow_the_cluster_specification() {
        // The CRC16-XMODEM check value, and the examples of the Redis Cluster specification.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(key_slot("123456789"), 0x31C3 % SLOTS);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("{user1000}.followers"), key_slot("user1000"));
        assert_eq!(key_slot("foo{}{bar}"), crc16_xmodem(b"foo{}{bar}") % SLOTS);
        assert_eq!(key_slot("foo{{bar}}zap"), key_slot("{bar"));
        assert_eq!(key_slot("foo{bar}{zap}"), key_slot("bar"));
        assert_eq!(key_slot("foo"), 12182);
    }

    #[test]
    fn key_slot_equals_cluster_keyslot() {
        let cluster = shared_redis_cluster();
        for key in KEYS {
            assert_eq!(
                cluster.command(1, &["CLUSTER", "KEYSLOT", key]),
                Ok(Reply::Integer(i64::from(key_slot(key)))),
                "slot of {key:?}"
            );
        }
    }

    #[test]
    fn shared_cluster_has_three_healthy_masters_sharing_every_slot() {
        let cluster = shared_redis_cluster();
        let ports = cluster.ports();
        assert_eq!(ports.len(), 3);
        assert_eq!(ports.iter().collect::<HashSet<_>>().len(), 3, "{ports:?}");
        for node in 0..3 {
            let Ok(Reply::Bulk(Some(info))) = cluster.command(node, &["CLUSTER", "INFO"]) else {
                panic!("node {node} must answer CLUSTER INFO");
            };
            let info = String::from_utf8(info).expect("CLUSTER INFO is text");
            for (field, expected) in [
                ("cluster_state", "ok"),
                ("cluster_slots_assigned", "16384"),
                ("cluster_slots_ok", "16384"),
                ("cluster_known_nodes", "3"),
                ("cluster_size", "3"),
            ] {
                assert_eq!(
                    info_field(&info, field),
                    Some(expected),
                    "node {node}: {info}"
                );
            }
        }
        let owners = cluster.slot_owners().expect("CLUSTER SLOTS");
        check_coverage(&owners).expect("the slot ranges cover every slot once");
        let slots_per_node = owners.iter().fold([0_u32; 3], |mut counts, (range, node)| {
            counts[*node] += u32::from(*range.end() - *range.start()) + 1;
            counts
        });
        assert!(
            slots_per_node.iter().all(|&slots| slots > 5000),
            "{slots_per_node:?}"
        );
        assert_eq!(shared_redis_cluster().ports(), ports);
        assert!(cluster.command(3, &["PING"]).is_err());
    }

    #[test]
    fn keys_are_served_by_their_slot_owner_and_other_nodes_redirect() {
        let cluster = shared_redis_cluster();
        let ports = cluster.ports();
        let owners = cluster.slot_owners().expect("CLUSTER SLOTS");
        let prefix = unique_prefix("cluster redirect");
        // One key per node, in different slots.
        let mut key_of_node: BTreeMap<usize, String> = BTreeMap::new();
        for index in 0..1000 {
            let key = format!("{prefix}:key{index}");
            key_of_node.entry(owner_of(&owners, &key)).or_insert(key);
        }
        assert_eq!(key_of_node.len(), 3, "every node owns some of 1000 keys");
        for (&owner, key) in &key_of_node {
            let value = format!("value of {key}");
            assert_eq!(
                cluster.command(owner, &["SET", key, &value]),
                Ok(Reply::Simple("OK".into()))
            );
            assert_eq!(
                cluster.command(owner, &["GET", key]),
                Ok(Reply::Bulk(Some(value.into_bytes())))
            );
            let moved = format!("MOVED {} 127.0.0.1:{}", key_slot(key), ports[owner]);
            for other in (0..3).filter(|&node| node != owner) {
                assert_eq!(
                    cluster.command(other, &["GET", key]),
                    Ok(Reply::Error(moved.clone()))
                );
            }
        }
    }

    #[test]
    fn count_keys_per_node_counts_the_keys_written_through_each_owner() {
        let cluster = shared_redis_cluster();
        let owners = cluster.slot_owners().expect("CLUSTER SLOTS");
        let prefix = unique_prefix("cluster count");
        let mut expected = vec![0_u64; 3];
        for index in 0..1000 {
            if expected.iter().all(|&count| count >= 3) {
                break;
            }
            let key = format!("{prefix}:key{index}");
            let owner = owner_of(&owners, &key);
            assert_eq!(
                cluster.command(owner, &["SET", &key, "1"]),
                Ok(Reply::Simple("OK".into()))
            );
            expected[owner] += 1;
        }
        assert!(expected.iter().all(|&count| count >= 3), "{expected:?}");
        // Keys sharing a hash tag all land on one node.
        let tagged = format!("{{{prefix}:tag}}");
        let tag_owner = owner_of(&owners, &tagged);
        for index in 0..5 {
            let key = format!("{tagged}:key{index}");
            assert_eq!(
                cluster.command(tag_owner, &["SET", &key, "1"]),
                Ok(Reply::Simple("OK".into()))
            );
        }
        assert_eq!(
            cluster.count_keys_per_node(&format!("{prefix}:*")),
            Ok(expected)
        );
        let mut tagged_expected = vec![0; 3];
        tagged_expected[tag_owner] = 5;
        assert_eq!(
            cluster.count_keys_per_node(&format!("{{{prefix}:tag}}:*")),
            Ok(tagged_expected)
        );
        assert_eq!(
            cluster.count_keys_per_node(&format!("{prefix}-none:*")),
            Ok(vec![0; 3])
        );
    }

    #[test]
    fn urls_name_every_node() {
        let cluster = shared_redis_cluster();
        let [a, b, c] = cluster.ports()[..] else {
            panic!("three nodes");
        };
        let url = format!("redis+cluster://127.0.0.1:{a},127.0.0.1:{b},127.0.0.1:{c}");
        assert_eq!(cluster.url(), url);
        assert_eq!(
            cluster.store_url("t1_x", Duration::from_millis(2500)),
            format!("{url}?prefix=t1_x&timeout_ms=2500")
        );
    }

    #[test]
    fn a_private_cluster_of_four_masters_serves_and_dies_when_dropped() {
        let started = Instant::now();
        let cluster = RedisCluster::start(4).expect("a 4-master cluster starts");
        eprintln!("4-master cluster ready in {:?}", started.elapsed());
        let ports = cluster.ports();
        assert_eq!(ports.len(), 4);
        let owners = cluster.slot_owners().expect("CLUSTER SLOTS");
        assert_eq!(
            owners.iter().map(|(_, node)| *node).collect::<HashSet<_>>(),
            (0..4).collect::<HashSet<_>>()
        );
        let owner = owner_of(&owners, "private");
        assert_eq!(
            cluster.command(owner, &["SET", "private", "1"]),
            Ok(Reply::Simple("OK".into()))
        );
        assert_eq!(
            cluster.count_keys_per_node("private"),
            Ok({
                let mut counts = vec![0; 4];
                counts[owner] = 1;
                counts
            })
        );
        drop(cluster);
        for port in ports {
            assert!(resp::refuses_connections(HOST, port), "port {port}");
        }
    }

    #[test]
    fn a_failed_create_reports_what_redis_cli_printed() {
        let plain: Vec<LocalRedis> = (0..3)
            .map(|_| {
                LocalRedis::start(crate::RedisOptions::default()).expect("redis-server starts")
            })
            .collect();
        let ports: Vec<u16> = plain.iter().map(LocalRedis::port).collect();
        let cli = redis_cli().expect("redis-cli is installed");
        let error = create(&cli, &ports).expect_err("servers without cluster mode cannot join");
        let message = error.message();
        assert!(
            message.contains(&format!("127.0.0.1:{}", ports[0])),
            "{message}"
        );
        assert!(
            message.contains("is not configured as a cluster node"),
            "{message}"
        );
        assert!(
            !message.contains('\u{1b}'),
            "no terminal colours: {message:?}"
        );
    }

    #[test]
    fn fewer_than_three_masters_are_refused() {
        let error = RedisCluster::start(2).expect_err("Redis Cluster needs 3 masters");
        assert!(error.message().contains("at least 3 masters"), "{error}");
    }
}
