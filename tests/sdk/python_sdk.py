"""The official Python `meilisearch` SDK, unmodified, against a running Miroir.

Usage: python3 tests/sdk/python_sdk.py http://127.0.0.1:7700 [master-key]

Exercises what an application does first: create an index, add documents, wait for the task,
search, get one document, update settings, delete a document and the index. Exits non-zero with
the failing step on the first surprise. Run by `tests/system/tests/python_sdk.rs`.
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
    print("python sdk: ok")


if __name__ == "__main__":
    main()
