//! The store conformance suite: one set of generic tests, run against every backend.
//!
//! Each test in the modules below is an `async fn(&TestStore)`; [`conformance_suite!`] turns
//! the whole list into real `#[tokio::test]`s for one backend factory (attributes written before
//! a name, such as `#[ignore = "…"]`, go on its tests). Adding a store operation
//! means adding a test here — both backends then run it.
#![cfg(any(feature = "sqlite", feature = "redis"))]
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used)]

mod support;

mod admin_sessions;
mod aliases;
mod api_keys;
mod canaries;
mod cdc;
mod config_tables;
mod copy;
mod durability;
mod expiring;
mod indexes;
mod jobs;
mod leases;
#[cfg(feature = "sqlite")]
mod observed;
mod properties;
mod rate_limits;
#[cfg(feature = "redis")]
mod redis_cluster_only;
#[cfg(feature = "redis")]
mod redis_only;
mod schema;
mod seed;
#[cfg(feature = "sqlite")]
mod sqlite_only;
mod tasks;

/// Expands to one `#[tokio::test]` per listed suite function, each on a fresh store from
/// `$factory` (an async fn returning a [`support::TestStore`]).
macro_rules! conformance_suite {
    ($backend:ident, $factory:path) => {
        conformance_suite!(@expand $backend, $factory, {
            schema {
                migrate_is_idempotent_and_reports_versions, racing_migrations_converge, store_ahead_is_refused,
                a_version_1_store_with_jobs_upgrades_to_claim_tokens, a_version_2_store_upgrades_to_index_records,
                a_version_3_store_upgrades_to_api_keys
            }
            tasks {
                create_allocates_increasing_uids, get_round_trips_every_field, update_replaces_mutable_fields,
                terminal_tasks_are_final, conditional_update_refuses_a_stale_view, update_of_missing_task_is_not_found, list_newest_first_with_cursor_paging,
                list_reverse_pages_oldest_first, list_filters_match_reference, list_limit_zero_reports_total_and_next,
                prune_deletes_only_old_terminal_tasks, fenced_prune_is_refused_once_a_newer_token_exists, uids_are_never_reused_after_prune, delete_removes_a_task_from_every_index,
                concurrent_creates_get_distinct_uids,
                corrupt_task_row_is_a_typed_error
            }
            aliases {
                create_is_create_if_absent, racing_creates_have_one_winner, flip_is_compare_and_set_with_bounded_history,
                racing_flips_never_lose_an_update, flip_refuses_kind_change_and_bad_input, list_and_delete
            }
            jobs {
                enqueue_and_get, claim_takes_oldest_ready_job, concurrent_claims_take_each_job_once,
                heartbeat_complete_and_fail_require_the_claimant, a_reclaimed_claim_is_refused_even_under_the_same_worker_name,
                fail_retries_until_max_attempts, reclaim_returns_expired_claims_with_progress,
                retry_requeues_failed_job, list_and_queue_depth, list_filters_by_type_and_pages_from_a_job,
                type_filter_examines_a_bounded_number_of_jobs
            }
            leases {
                acquire_renew_release, tokens_increase_on_every_new_acquisition, racing_acquirers_have_one_winner,
                expired_lease_can_be_taken_over_and_old_token_is_fenced, list_shows_only_held_leases_by_scope
            }
            canaries { canary_crud_deletes_runs, runs_are_trimmed_to_the_bound_in_the_same_step }
            cdc { cursor_is_compare_and_set, overflow_is_fifo_and_bounded, list_all_cursors_orders_by_sink_then_index }
            expiring {
                sessions_round_trip_and_expire, idempotency_insert_is_create_if_absent, racing_idempotency_inserts_have_one_winner,
                expired_rows_are_never_returned, prune_expired_is_safe
            }
            admin_sessions { create_get_revoke, revocation_is_published }
            rate_limits { fixed_window_counts_and_resets, login_backoff_grows_and_resets }
            durability { every_table_survives_reopen }
            copy {
                every_table_round_trips_through_every_backend, pages_of_any_size_cover_every_row,
                bad_cursors_and_limits_are_invalid_input, uids_tokens_and_job_order_continue_after_a_copy,
                sequences_only_rise_and_imports_raise_them, an_import_replaces_the_row_with_its_key,
                expired_rows_are_neither_exported_nor_imported, clear_all_rows_empties_every_table_and_keeps_the_sequences,
                #[ignore = "timing, run by hand"] import_export_and_clear_of_100k_tasks
            }
            properties {
                every_task_field_round_trips, every_config_row_round_trips, every_expiring_row_round_trips,
                task_paging_equals_one_big_page
            }
            indexes {
                an_unknown_uid_has_no_record, create_expects_version_0_and_stores_version_1,
                racing_creators_have_one_winner, racing_updates_never_lose_an_update,
                a_stale_version_is_a_conflict_and_changes_nothing, an_update_keeps_created_at_and_bumps_the_version,
                a_tombstone_round_trips_and_recreation_continues_the_version, delete_is_compare_and_set,
                list_is_in_uid_byte_order_with_paging, invalid_records_are_refused_and_change_nothing,
                versions_use_the_whole_u64_range
            }
            api_keys {
                the_default_keys_are_there_after_migrate, create_get_put_delete_round_trip, conflicts_change_nothing,
                racing_creates_have_one_winner, list_is_newest_first_with_ties_by_uid_descending,
                expires_at_round_trips_and_expired_keys_are_listed, unicode_and_any_text_round_trip,
                an_imported_key_replaces_the_key_with_its_uid
            }
            config_tables {
                node_settings_versions_never_go_back, tenants_round_trip_by_hash, a_tenant_has_one_key_and_rekeying_is_atomic,
                racing_rekeys_leave_one_key_per_tenant, rollover_policies_crud,
                search_ui_config_crud, scoped_key_rotation_is_compare_and_set, scoped_key_observations_expire
            }
        });
    };
    (@expand $backend:ident, $factory:path, { $($module:ident { $($(#[$meta:meta])* $test:ident),* $(,)? })* }) => {
        mod $backend {
            $(
                mod $module {
                    $(
                        $(#[$meta])*
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $test() {
                            let store = $factory().await;
                            crate::$module::$test(&store).await;
                        }
                    )*
                }
            )*
        }
    };
}

#[cfg(feature = "sqlite")]
conformance_suite!(sqlite_memory, crate::support::sqlite_memory);
#[cfg(feature = "sqlite")]
conformance_suite!(sqlite_file, crate::support::sqlite_file);
#[cfg(feature = "sqlite")]
conformance_suite!(sqlite_observed, crate::support::sqlite_observed);
#[cfg(feature = "redis")]
conformance_suite!(redis, crate::support::redis);
#[cfg(feature = "redis")]
conformance_suite!(redis_cluster, crate::support::redis_cluster);
