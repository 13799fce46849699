//! What a processed task does to the indexes. Each operation either applies completely and returns
//! its final `details`, or changes nothing and returns the error the task fails with.

use serde_json::{Map, Value, json};

use super::clock::now;
use super::documents::{WriteMethod, infer_primary_key};
use super::error::ApiError;
use super::filter;
use super::settings;
use super::state::{Index, State};
use super::tasks::Operation;

/// Applies `operation` to index `index_uid`; the task's final details (`None`: unchanged).
pub(crate) fn apply(
    state: &mut State,
    index_uid: &str,
    operation: Operation,
) -> Result<Option<Value>, ApiError> {
    match operation {
        Operation::IndexCreation { primary_key } => {
            if state.indexes.contains_key(index_uid) {
                return Err(ApiError::new(
                    "index_already_exists",
                    format!("Index `{index_uid}` already exists."),
                ));
            }
            state.indexes.insert(
                index_uid.to_owned(),
                Index::new(index_uid, primary_key, now()),
            );
            Ok(None)
        }
        Operation::IndexUpdate { primary_key } => {
            let index = index_mut(state, index_uid)?;
            if let Some(primary_key) = primary_key {
                check_primary_key_change(index, &primary_key)?;
                index.primary_key = Some(primary_key);
            }
            Ok(None)
        }
        Operation::IndexDeletion => {
            let index = state
                .indexes
                .remove(index_uid)
                .ok_or_else(|| ApiError::index_not_found(index_uid))?;
            Ok(Some(json!({"deletedDocuments": index.documents.len()})))
        }
        Operation::DocumentAddition {
            documents,
            primary_key,
            method,
        } => add_documents(state, index_uid, &documents, primary_key, method),
        Operation::DocumentDeletionByIds { ids } => {
            let index = index_mut(state, index_uid)?;
            let deleted = ids.iter().filter(|id| index.documents.remove(id)).count();
            Ok(Some(json!({
                "providedIds": ids.len(), "deletedDocuments": deleted, "originalFilter": null
            })))
        }
        Operation::DocumentDeletionByFilter { filter } => {
            let index = index_mut(state, index_uid)?;
            let filterable = settings::filterable(&index.settings);
            let parsed = filter::parse(&filter, Some(filterable.as_slice()))
                .map_err(|message| ApiError::new("invalid_document_filter", message))?;
            let doomed: Vec<String> = match &parsed {
                Some(parsed) => index
                    .documents
                    .iter()
                    .filter(|(_, document)| parsed.matches(document))
                    .filter_map(|(_, document)| {
                        let primary_key = index.primary_key.as_deref()?;
                        super::documents::document_id(document, primary_key).ok()
                    })
                    .collect(),
                None => Vec::new(),
            };
            let deleted = doomed
                .iter()
                .filter(|id| index.documents.remove(id))
                .count();
            Ok(Some(json!({
                "providedIds": 0, "deletedDocuments": deleted, "originalFilter": filter.to_string()
            })))
        }
        Operation::DocumentClear => {
            let deleted = index_mut(state, index_uid)?.documents.clear();
            Ok(Some(json!({
                "providedIds": 0, "deletedDocuments": deleted, "originalFilter": null
            })))
        }
        Operation::SettingsUpdate { update } => {
            let index = state
                .indexes
                .entry(index_uid.to_owned())
                .or_insert_with(|| Index::new(index_uid, None, now()));
            settings::apply(&mut index.settings, &update);
            Ok(None)
        }
    }
}

fn index_mut<'a>(state: &'a mut State, index_uid: &str) -> Result<&'a mut Index, ApiError> {
    state
        .indexes
        .get_mut(index_uid)
        .ok_or_else(|| ApiError::index_not_found(index_uid))
}

/// An index's primary key can change only while it has no documents.
fn check_primary_key_change(index: &Index, primary_key: &str) -> Result<(), ApiError> {
    match &index.primary_key {
        Some(current) if current != primary_key && !index.documents.is_empty() => {
            Err(ApiError::new(
                "index_primary_key_already_exists",
                format!(
                    "Index `{}` already has a primary key: `{current}`.",
                    index.uid
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Adds documents, creating the index if needed; the primary key is the index's, else
/// `?primaryKey=`, else inferred from the first document.
fn add_documents(
    state: &mut State,
    index_uid: &str,
    documents: &[Map<String, Value>],
    primary_key: Option<String>,
    method: WriteMethod,
) -> Result<Option<Value>, ApiError> {
    let mut index = state
        .indexes
        .get(index_uid)
        .cloned()
        .unwrap_or_else(|| Index::new(index_uid, None, now()));
    let primary_key = match (index.primary_key.clone(), primary_key) {
        (Some(current), Some(requested)) if current != requested => {
            check_primary_key_change(&index, &requested)?;
            Some(requested)
        }
        (Some(current), _) => Some(current),
        (None, Some(requested)) => Some(requested),
        (None, None) => documents.first().map(infer_primary_key).transpose()?,
    };
    if let Some(primary_key) = primary_key {
        index.documents.add(documents, &primary_key, method)?;
        index.primary_key = Some(primary_key);
    }
    state.indexes.insert(index_uid.to_owned(), index);
    Ok(Some(json!({
        "receivedDocuments": documents.len(), "indexedDocuments": documents.len()
    })))
}
