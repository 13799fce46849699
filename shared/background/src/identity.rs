//! This replica's identity among its peers.

use miroir_core::EnvSource;

/// `background.pod_id` when set; else `POD_NAME` (the Kubernetes Downward API); else the Lambda
/// execution environment (`AWS_LAMBDA_LOG_STREAM_NAME`); else `<host name>-<process id>`, unique
/// per process on one machine.
pub fn pod_id(configured: &str, env: &impl EnvSource) -> String {
    if !configured.is_empty() {
        return configured.to_owned();
    }
    for var in ["POD_NAME", "AWS_LAMBDA_LOG_STREAM_NAME"] {
        if let Some(value) = env.var(var).filter(|value| !value.is_empty()) {
            return value;
        }
    }
    let host = env
        .var("HOSTNAME")
        .filter(|value| !value.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "miroir".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn configured_then_pod_name_then_lambda_then_host_and_pid() {
        let all = vars(&[
            ("POD_NAME", "miroir-7c9f-abcde"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]abc"),
            ("HOSTNAME", "box"),
        ]);
        assert_eq!(pod_id("pod-1", &all), "pod-1");
        assert_eq!(pod_id("", &all), "miroir-7c9f-abcde");
        let lambda = vars(&[("AWS_LAMBDA_LOG_STREAM_NAME", "stream")]);
        assert_eq!(pod_id("", &lambda), "stream");
        let host = vars(&[("HOSTNAME", "box")]);
        assert_eq!(pod_id("", &host), format!("box-{}", std::process::id()));
    }
}
