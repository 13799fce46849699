//! Alias resolution on client routes (plan §13.7): an index uid in a client path may name an
//! alias; it is resolved once, at the routing step, before any fan-out, so a flip never tears a
//! request that is already routed. Nodes only ever see concrete index uids.
//!
//! - A single-target alias stands for its index, for reads and writes.
//! - A multi-target alias is readable (searches fan out over its indexes); a write to it is
//!   409 `miroir_multi_alias_not_writable`.
//! - A name that is no alias is an index uid, unchanged. With `aliases.enabled: false` nothing
//!   is resolved (no store read).

use miroir_core::{ApiError, Code};
use miroir_store::AliasTarget;

use crate::state::AppState;

/// The concrete index uids `name` stands for, for a read: one uid, or the targets of a
/// multi-target alias (in the alias's order).
pub async fn read_targets(state: &AppState, name: &str) -> Result<Vec<String>, ApiError> {
    Ok(match target(state, name).await? {
        None => vec![name.to_owned()],
        Some(AliasTarget::Single { uid }) => vec![uid],
        Some(AliasTarget::Multi { uids }) => uids,
    })
}

/// The one concrete index a read of a single index (a document, settings, stats) goes to: the
/// index, the target of a single-target alias, or the first target of a multi-target alias.
pub async fn read_target(state: &AppState, name: &str) -> Result<String, ApiError> {
    let mut targets = read_targets(state, name).await?;
    Ok(if targets.is_empty() {
        name.to_owned()
    } else {
        targets.swap_remove(0)
    })
}

/// The concrete index a write to `name` goes to; 409 `miroir_multi_alias_not_writable` for a
/// multi-target alias.
pub async fn write_target(state: &AppState, name: &str) -> Result<String, ApiError> {
    match target(state, name).await? {
        None => Ok(name.to_owned()),
        Some(AliasTarget::Single { uid }) => Ok(uid),
        Some(AliasTarget::Multi { uids }) => Err(ApiError::new(
            Code::MiroirMultiAliasNotWritable,
            format!(
                "`{name}` is a multi-target alias (of {}): it can be searched but not written \
                 to. Write to one of its indexes instead.",
                uids.join(", ")
            ),
        )),
    }
}

async fn target(state: &AppState, name: &str) -> Result<Option<AliasTarget>, ApiError> {
    if !state.config.aliases.enabled {
        return Ok(None);
    }
    Ok(state.store.get_alias(name).await?.map(|alias| alias.target))
}
