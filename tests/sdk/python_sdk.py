"""The official Python `meilisearch` SDK, unmodified, against a running Miroir.

Usage: python3 tests/sdk/python_sdk.py http://127.0.0.1:7700 [master-key]

Exercises what an application does first: create an index, add documents, wait for the task,
search, facet search, get one document, update settings, delete a document and the index; then
CSV documents into an index created without a primary key (inferred), task cancelation and
deletion, batches, and (given the master key) a search-only API key. Exits non-zero with the
failing step on the first surprise. Run by `tests/system/tests/python_sdk.rs`.
"""

import sys

import meilisearch


def main() -> None:
    url = sys.argv[1]
    key = sys.argv[2] if len(sys.argv) > 2 else None
    client = meilisearch.Client(url, key)
    assert client.health() == {"status": "available"}, "health"

    task = client.create_index("books", {"primaryKey": "id"})
    info = client.wait_for_task(task.task_uid, timeout_in_ms=20_000)
    assert info.status == "succeeded", f"index creation: {info}"
    index = client.index("books")

    documents = [
        {"id": i, "title": f"book number {i}", "genre": ["fantasy", "crime", "poetry"][i % 3]}
        for i in range(200)
    ]
    documents.append({"id": 999, "title": "the singular zeppelin", "genre": "crime"})
    task = index.add_documents(documents)
    assert isinstance(task.task_uid, int), "taskUid must be an integer"
    info = client.wait_for_task(task.task_uid, timeout_in_ms=20_000)
    assert info.status == "succeeded", f"documents: {info}"
    assert info.details["receivedDocuments"] == 201, info.details

    result = index.search("zeppelin")
    assert [hit["id"] for hit in result["hits"]] == [999], result
    assert result["estimatedTotalHits"] == 1, result
    result = index.search("", {"limit": 5, "offset": 10})
    assert len(result["hits"]) == 5 and result["estimatedTotalHits"] == 201, result

    document = index.get_document(999)
    assert document.title == "the singular zeppelin", document
    assert not hasattr(document, "_miroir_shard"), "reserved field leaked"
    listed = index.get_documents({"limit": 7})
    assert listed.total == 201 and len(listed.results) == 7, listed

    task = index.update_filterable_attributes(["genre"])
    assert client.wait_for_task(task.task_uid, timeout_in_ms=20_000).status == "succeeded"
    assert index.get_filterable_attributes() == ["genre"]
    result = index.search("", {"filter": "genre = crime", "facets": ["genre"], "limit": 0})
    assert result["facetDistribution"] == {"genre": {"crime": 68}}, result
    facets = index.facet_search("genre", "cri")
    assert facets["facetHits"] == [{"value": "crime", "count": 68}], facets

    task = index.delete_document(999)
    assert client.wait_for_task(task.task_uid, timeout_in_ms=20_000).status == "succeeded"
    try:
        index.get_document(999)
        raise AssertionError("deleted document still found")
    except meilisearch.errors.MeilisearchApiError as error:
        assert error.code == "document_not_found", error

    tasks = client.get_tasks({"indexUids": ["books"], "limit": 3})
    assert len(tasks.results) == 3 and all(isinstance(t.uid, int) for t in tasks.results)

    task = client.delete_index("books")
    assert client.wait_for_task(task.task_uid, timeout_in_ms=20_000).status == "succeeded"
    try:
        client.get_index("books")
        raise AssertionError("deleted index still found")
    except meilisearch.errors.MeilisearchApiError as error:
        assert error.code == "index_not_found", error
    csv_and_inference(client)
    cancel_and_delete_tasks(client)
    if key is not None:
        api_keys(client, url)
    print("python sdk: ok")


def wait(client: meilisearch.Client, task) -> object:
    return client.wait_for_task(task.task_uid, timeout_in_ms=20_000)


def csv_and_inference(client: meilisearch.Client) -> None:
    shelf = client.index("shelf")
    info = wait(client, shelf.add_documents_csv(b"shelfId,name:string,rank:number\n1,oak,2\n2,pine,1.5\n"))
    assert info.status == "succeeded", f"csv: {info}"
    assert client.get_index("shelf").primary_key == "shelfId", "primary key inferred"
    oak = shelf.get_document("1")
    assert (oak.name, oak.rank) == ("oak", 2), oak
    info = wait(client, client.index("nokey").add_documents([{"title": "no id here"}]))
    assert info.status == "failed", info
    assert info.error["code"] == "index_primary_key_no_candidate_found", info.error


def cancel_and_delete_tasks(client: meilisearch.Client) -> None:
    info = wait(client, client.cancel_tasks({"statuses": ["enqueued", "processing"]}))
    assert (info.type, info.status) == ("taskCancelation", "succeeded"), info
    info = wait(client, client.delete_tasks({"indexUids": ["shelf"], "statuses": ["succeeded"]}))
    assert (info.type, info.status) == ("taskDeletion", "succeeded"), info
    assert info.details["deletedTasks"] >= 1, info.details
    assert client.get_tasks({"indexUids": ["shelf"]}).results == [], "shelf tasks deleted"
    batches = client.get_batches({"limit": 2})
    assert len(batches.results) == 2, batches


def api_keys(client: meilisearch.Client, url: str) -> None:
    created = client.create_key(
        {"actions": ["search"], "indexes": ["shelf"], "expiresAt": None, "name": "front"}
    )
    front = meilisearch.Client(url, created.key)
    hits = front.index("shelf").search("oak")["hits"]
    assert [hit["shelfId"] for hit in hits] == ["1"], hits
    for attempt in (
        lambda: front.index("shelf").add_documents([{"shelfId": 3}]),
        lambda: front.index("books").search(""),
        lambda: front.get_keys(),
    ):
        try:
            attempt()
            raise AssertionError("a search-only key did more than search its index")
        except meilisearch.errors.MeilisearchApiError as error:
            assert error.code == "invalid_api_key", error
    assert client.get_keys().total >= 5, "the default keys and the new one"
    client.delete_key(created.uid)
    try:
        front.index("shelf").search("oak")
        raise AssertionError("a deleted key still works")
    except meilisearch.errors.MeilisearchApiError as error:
        assert error.code == "invalid_api_key", error


if __name__ == "__main__":
    main()
