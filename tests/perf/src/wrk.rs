//! `wrk` runs: requests/s and latency percentiles of one URL, parsed from `wrk --latency`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Error, Result};

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Requests per second.
    pub requests_per_sec: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// `wrk` settings shared by every run.
#[derive(Clone, Copy, Debug)]
pub struct Wrk {
    /// `-t`.
    pub threads: u32,
    /// `-c`.
    pub connections: u32,
}

impl Wrk {
    /// Runs `wrk` for `duration` against `url` and parses its report. Any non-2xx answer or
    /// socket error is an error: a benchmark of failures measures nothing.
    pub fn run(self, url: &str, duration: Duration) -> Result<Load> {
        let output = Command::new("wrk")
            .args([
                "-t",
                &self.threads.to_string(),
                "-c",
                &self.connections.to_string(),
                "-d",
                &format!("{}s", duration.as_secs()),
                "--latency",
                url,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| {
                if error.kind() == std::io::ErrorKind::NotFound {
                    Error::from("wrk is not installed: apt-get install wrk")
                } else {
                    format!("cannot run wrk: {error}").into()
                }
            })?;
        let report = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk failed ({}): {}{}",
                output.status,
                report.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        parse_wrk(&report).map_err(|error| format!("{error}; wrk said:\n{report}").into())
    }
}

/// Requests/s and the 50 % / 99 % latency lines of a `wrk --latency` report.
pub fn parse_wrk(report: &str) -> Result<Load> {
    let mut requests_per_sec = None;
    let mut p50_ms = None;
    let mut p99_ms = None;
    for line in report.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(value)) => requests_per_sec = Some(value.parse()?),
            (Some("50%"), Some(value)) => p50_ms = Some(parse_duration_ms(value)?),
            (Some("99%"), Some(value)) => p99_ms = Some(parse_duration_ms(value)?),
            (Some("Non-2xx"), _) | (Some("Socket"), Some("errors:")) => {
                return Err(format!("failed requests: {}", line.trim()).into());
            }
            _ => {}
        }
    }
    match (requests_per_sec, p50_ms, p99_ms) {
        (Some(requests_per_sec), Some(p50_ms), Some(p99_ms)) => Ok(Load {
            requests_per_sec,
            p50_ms,
            p99_ms,
        }),
        _ => Err("cannot find Requests/sec and the 50%/99% latency lines".into()),
    }
}

/// A `wrk` duration (`812.00us`, `1.25ms`, `2.00s`, `1.00m`) in milliseconds.
pub fn parse_duration_ms(value: &str) -> Result<f64> {
    let units = [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)];
    for (suffix, factor) in units {
        if let Some(number) = value.strip_suffix(suffix) {
            return Ok(number.parse::<f64>()? * factor);
        }
    }
    Err(format!("unknown latency unit in {value:?}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wrk_report() -> Result<()> {
        let report = "Running 10s test @ http://127.0.0.1:1/tasks/1
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.12us  120.00us   5.00ms   90.00%
    Req/Sec    50.00k     2.00k   55.00k    70.00%
  Latency Distribution
     50%  290.00us
     75%  350.00us
     90%  420.00us
     99%    1.25ms
  1000000 requests in 10.00s, 500.00MB read
Requests/sec: 100000.50
Transfer/sec:     50.00MB
";
        let load = parse_wrk(report)?;
        assert!((load.requests_per_sec - 100_000.5).abs() < 1e-9);
        assert!((load.p50_ms - 0.29).abs() < 1e-9);
        assert!((load.p99_ms - 1.25).abs() < 1e-9);
        assert!(parse_wrk(&format!("{report}  Non-2xx or 3xx responses: 3\n")).is_err());
        Ok(())
    }
}
