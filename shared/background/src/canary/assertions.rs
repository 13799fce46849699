//! Evaluating a canary's assertions (plan §13.18) against one run's search response. Every
//! failure carries the expected and observed values and the ids of the hits seen, so an
//! operator reading the run history sees why it failed.

use miroir_core::documents::id_string;
use serde::Serialize;
use serde_json::{Value, json};

/// What one run observed.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// The search response (`hits`, `estimatedTotalHits` or `totalHits`).
    pub response: &'a Value,
    /// The index's primary key (hit ids are read from it).
    pub primary_key: &'a str,
    /// Latencies of this run and the recent runs before it, milliseconds (for `max_p95_ms`).
    pub latencies_ms: &'a [u64],
    /// The lowest settings version recorded over the index's nodes; `None` when unknown.
    pub settings_version: Option<u64>,
}

/// One failed assertion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    /// The assertion type (`top_hit_id`, …).
    #[serde(rename = "type")]
    pub assertion_type: String,
    /// The assertion's parameters.
    pub expected: Value,
    /// What was observed instead.
    pub observed: Value,
    /// The ids of the hits returned, in order.
    pub hits: Vec<String>,
}

impl Observation<'_> {
    /// The ids of the hits, in order (hits without a readable id are skipped).
    fn hit_ids(&self) -> Vec<String> {
        self.response
            .get("hits")
            .and_then(Value::as_array)
            .map(|hits| {
                hits.iter()
                    .filter_map(|hit| hit.get(self.primary_key).and_then(id_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The total hits the response reports (`totalHits` in page mode), else the hits returned.
    fn total_hits(&self) -> u64 {
        ["totalHits", "estimatedTotalHits"]
            .iter()
            .find_map(|key| self.response.get(*key).and_then(Value::as_u64))
            .unwrap_or_else(|| self.hit_ids().len() as u64)
    }
}

/// The 95th percentile (nearest rank) of `samples`; 0 for none.
pub fn p95(samples: &[u64]) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * 95).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// The ids an assertion names (`ids`), as id strings.
fn ids(assertion: &Value) -> Vec<String> {
    assertion
        .get("ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(id_string).collect())
        .unwrap_or_default()
}

/// The failed assertions of `assertions` (a JSON array of `{type, …}`) for `observation`.
/// Assertion types the runner does not know fail with `observed: "unknown assertion type"`.
pub fn evaluate(assertions: &Value, observation: &Observation<'_>) -> Vec<Failure> {
    let hits = observation.hit_ids();
    let mut failures = Vec::new();
    for assertion in assertions.as_array().map(Vec::as_slice).unwrap_or_default() {
        let kind = assertion.get("type").and_then(Value::as_str).unwrap_or("");
        let mut expected = assertion.clone();
        if let Value::Object(fields) = &mut expected {
            fields.remove("type");
        }
        let value = assertion.get("value");
        let observed: Option<Value> = match kind {
            "top_hit_id" => {
                let want = value.and_then(id_string);
                let top = hits.first().cloned();
                (want.is_none() || top != want).then(|| json!(top))
            }
            "top_k_contains" => {
                let k = assertion
                    .get("k")
                    .and_then(Value::as_u64)
                    .and_then(|k| usize::try_from(k).ok())
                    .unwrap_or(0);
                let top: Vec<&String> = hits.iter().take(k).collect();
                let missing: Vec<String> = ids(assertion)
                    .into_iter()
                    .filter(|id| !top.contains(&id))
                    .collect();
                (!missing.is_empty()).then(|| json!({"missing": missing}))
            }
            "min_hits" => {
                let total = observation.total_hits();
                (total < value.and_then(Value::as_u64).unwrap_or(u64::MAX)).then(|| json!(total))
            }
            "max_p95_ms" => {
                let p95 = p95(observation.latencies_ms);
                (p95 > value.and_then(Value::as_u64).unwrap_or(0)).then(|| json!(p95))
            }
            "settings_version_at_least" => {
                let floor = value.and_then(Value::as_u64).unwrap_or(u64::MAX);
                match observation.settings_version {
                    Some(version) if version >= floor => None,
                    version => Some(json!(version)),
                }
            }
            "must_not_contain_id" => {
                let present: Vec<String> = ids(assertion)
                    .into_iter()
                    .filter(|id| hits.contains(id))
                    .collect();
                (!present.is_empty()).then(|| json!({"present": present}))
            }
            _ => Some(json!("unknown assertion type")),
        };
        if let Some(observed) = observed {
            failures.push(Failure {
                assertion_type: kind.to_owned(),
                expected,
                observed,
                hits: hits.clone(),
            });
        }
    }
    failures
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn response() -> Value {
        json!({
            "hits": [{"id": "inception"}, {"id": 2}, {"id": "memento"}],
            "estimatedTotalHits": 3
        })
    }

    fn observe<'a>(response: &'a Value, latencies: &'a [u64]) -> Observation<'a> {
        Observation {
            response,
            primary_key: "id",
            latencies_ms: latencies,
            settings_version: Some(42),
        }
    }

    fn types(failures: &[Failure]) -> Vec<&str> {
        failures.iter().map(|f| f.assertion_type.as_str()).collect()
    }

    #[test]
    fn passing_assertions_of_every_type() {
        let response = response();
        let assertions = json!([
            {"type": "top_hit_id", "value": "inception"},
            {"type": "top_k_contains", "k": 2, "ids": ["inception", "2"]},
            {"type": "min_hits", "value": 3},
            {"type": "max_p95_ms", "value": 200},
            {"type": "settings_version_at_least", "value": 42},
            {"type": "must_not_contain_id", "ids": ["deprecated"]},
        ]);
        let failures = evaluate(&assertions, &observe(&response, &[10, 50, 120]));
        assert_eq!(failures, []);
    }

    #[test]
    fn failing_assertions_of_every_type_say_what_was_observed() {
        let response = response();
        let assertions = json!([
            {"type": "top_hit_id", "value": "memento"},
            {"type": "top_k_contains", "k": 2, "ids": ["memento"]},
            {"type": "min_hits", "value": 5},
            {"type": "max_p95_ms", "value": 100},
            {"type": "settings_version_at_least", "value": 43},
            {"type": "must_not_contain_id", "ids": ["memento", "x"]},
        ]);
        let failures = evaluate(&assertions, &observe(&response, &[10, 50, 120]));
        assert_eq!(
            types(&failures),
            [
                "top_hit_id",
                "top_k_contains",
                "min_hits",
                "max_p95_ms",
                "settings_version_at_least",
                "must_not_contain_id"
            ]
        );
        let observed: Vec<&Value> = failures.iter().map(|f| &f.observed).collect();
        assert_eq!(
            observed,
            [
                &json!("inception"),
                &json!({"missing": ["memento"]}),
                &json!(3),
                &json!(120),
                &json!(42),
                &json!({"present": ["memento"]}),
            ]
        );
        assert_eq!(failures[0].hits, ["inception", "2", "memento"]);
        assert_eq!(failures[0].expected, json!({"value": "memento"}));
    }

    #[test]
    fn unknown_settings_version_and_empty_hits_fail() {
        let response = json!({"hits": [], "estimatedTotalHits": 0});
        let observation = Observation {
            settings_version: None,
            ..observe(&response, &[])
        };
        let failures = evaluate(
            &json!([
                {"type": "settings_version_at_least", "value": 1},
                {"type": "top_hit_id", "value": "a"},
                {"type": "future_type"}
            ]),
            &observation,
        );
        assert_eq!(
            types(&failures),
            ["settings_version_at_least", "top_hit_id", "future_type"]
        );
    }

    #[test]
    fn p95_is_the_nearest_rank() {
        assert_eq!(p95(&[]), 0);
        assert_eq!(p95(&[7]), 7);
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(p95(&samples), 95);
        assert_eq!(p95(&[5, 1, 9, 3]), 9);
    }
}
