//! The scheduled worker function (bin `lambda-worker`): each invocation, an EventBridge scheduled
//! event (`rate(1 minute)` in the SAM template), does one bounded background pass
//! ([`Background::pass`]) and answers its report. The pass's budget is the invocation's remaining
//! time minus [`SAFETY_MARGIN`], so the function returns before Lambda's timeout; a job still
//! running at the deadline saves its progress and resumes in a later pass.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::LambdaEvent;
use miroir_background::{Background, PassReport};
use serde_json::Value;

/// Time left for returning the report and for Lambda's own bookkeeping.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(2);

/// Smallest budget a pass gets, even when the invocation is nearly out of time.
pub const MIN_BUDGET: Duration = Duration::from_millis(500);

/// Handles one invocation: a pass within the remaining time. Any event starts a pass (the
/// scheduled event's content carries nothing the pass needs); errors are in the report, so the
/// invocation itself never fails and EventBridge does not retry it.
pub async fn handle(
    background: &Background,
    event: LambdaEvent<Value>,
) -> Result<PassReport, Infallible> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |now| u64::try_from(now.as_millis()).unwrap_or(u64::MAX));
    let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
    let budget = remaining.saturating_sub(SAFETY_MARGIN).max(MIN_BUDGET);
    let source = event
        .payload
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    tracing::info!(
        source,
        budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        "scheduled background pass"
    );
    Ok(background.pass(budget).await)
}
