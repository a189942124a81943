"""The reports folder: no overwrite, revisions, manifests, kept failures, index page."""

from __future__ import annotations

import json

import pytest

from aidebt.report._io import publish, write_atomic
from aidebt.report.index import build_index, write_index
from aidebt.report.store import ReportStore


def test_publish_never_replaces_a_file(tmp_path):
    target = publish(tmp_path / "a.html", "first")
    with pytest.raises(FileExistsError):
        publish(target, "second")
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html"]  # no temp file left


def test_write_atomic_replaces_and_leaves_no_temp_file(tmp_path):
    write_atomic(tmp_path / "index.html", "one")
    write_atomic(tmp_path / "index.html", "two")
    assert (tmp_path / "index.html").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def _publish(store, revision, figures=None, title="Subgroup audit"):
    return store.publish(
        "2026-11",
        "subgroup_audit",
        revision,
        f"<p>{revision}</p>",
        "{}",
        {"title": title, "finished": "2026-12-01T02:03:04Z", "key_figures": figures or {}},
    )


def test_revisions_are_new_files_and_manifest_entries(tmp_path):
    store = ReportStore(tmp_path)
    first = _publish(store, store.next_revision("2026-11", "subgroup_audit"))
    second = _publish(store, store.next_revision("2026-11", "subgroup_audit"))
    assert (first.html.name, first.ipynb.name) == ("subgroup_audit.html", "subgroup_audit.ipynb")
    assert (second.html.name, second.revision) == ("subgroup_audit.r2.html", 2)
    assert first.html.read_text() == "<p>1</p>"
    manifest = json.loads((tmp_path / "2026-11" / "manifest.json").read_text())
    assert [(e["revision"], e["html"]) for e in manifest["reports"]] == [
        (1, "subgroup_audit.html"),
        (2, "subgroup_audit.r2.html"),
    ]
    with pytest.raises(FileExistsError):  # a racing run that took revision 2 first
        _publish(store, 2)
    assert store.months() == ["2026-11"]


def test_keep_failed_never_overwrites(tmp_path):
    store = ReportStore(tmp_path)
    a = store.keep_failed("2026-11", "nb", "one")
    b = store.keep_failed("2026-11", "nb", "two")
    assert a != b and a.parent == tmp_path / "_failed" / "2026-11"
    assert (a.read_text(), b.read_text()) == ("one", "two")


def test_index_lists_every_month_and_revision_and_escapes_what_came_from_data(tmp_path):
    store = ReportStore(tmp_path)
    _publish(store, 1, {"worst_group": "<img src=x onerror=alert(1)>"})
    _publish(store, 2, {"accuracy": 0.912345, "count": 50094.0}, title="<b>Subgroup</b> audit")
    store.publish("2026-10", "monthly_audit", 1, "x", "{}", {"title": "Monthly"})
    page = build_index(tmp_path)
    assert page.index("2026-11") < page.index("2026-10")  # newest month first
    assert 'href="2026-11/subgroup_audit.r2.html"' in page
    assert 'href="2026-11/subgroup_audit.html"' in page
    assert 'href="2026-10/monthly_audit.html"' in page
    assert "accuracy = 0.912" in page and "count = 50,094" in page
    assert "<img" not in page and "<b>Subgroup" not in page
    assert "&lt;b&gt;Subgroup&lt;/b&gt; audit" in page
    written = write_index(tmp_path)
    assert written == tmp_path / "index.html"
    assert 'href="2026-11/subgroup_audit.r2.html"' in written.read_text()


def test_index_of_an_empty_folder(tmp_path):
    assert "No report has been published yet" in build_index(tmp_path / "none")


def test_place_without_hard_links_renames_and_still_never_replaces(tmp_path, monkeypatch):
    import errno
    import os

    from aidebt.report._io import place

    def no_link(src, dst, *a, **kw):
        raise OSError(errno.EXDEV, "cross-device link", str(dst))

    monkeypatch.setattr(os, "link", no_link)
    (tmp_path / "a").write_text("one")
    assert place(tmp_path / "a", tmp_path / "b") is False  # moved, in one step
    assert (tmp_path / "b").read_text() == "one" and not (tmp_path / "a").exists()
    (tmp_path / "c").write_text("two")
    with pytest.raises(FileExistsError):
        place(tmp_path / "c", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "one"


def test_the_store_lock_is_reentrant_and_ownership_dies_with_its_holder(tmp_path):
    from aidebt.report._io import abandoned, hold, locked

    with locked(tmp_path / ".lock"), locked(tmp_path / ".lock"):  # no self-deadlock
        pass
    owner = hold(tmp_path / ".owner")
    assert not abandoned(tmp_path / ".owner")
    owner.close()  # what the kernel does when the holder dies, kill -9 included
    assert abandoned(tmp_path / ".owner") and abandoned(tmp_path / "never-made")


def test_a_claim_takes_the_next_number_and_gives_it_back_unused(tmp_path):
    store = ReportStore(tmp_path)
    with store.claim("2026-11", "nb") as first, store.claim("2026-11", "nb") as second:
        assert (first.revision, second.revision) == (1, 2)  # a concurrent run: the next
    # both released unpublished: no number is used up
    assert store.next_revision("2026-11", "nb") == 1
    assert not (tmp_path / "2026-11" / ".staging").exists()
    with pytest.raises(Exception, match="would skip 1"):
        store.claim("2026-11", "nb", revision=2)


def test_a_killed_run_s_whole_staged_revision_is_completed_and_a_partial_one_removed(tmp_path):
    store = ReportStore(tmp_path)
    _publish(store, 1)
    whole = store.claim("2026-11", "subgroup_audit")
    store._stage(whole, "<p>2</p>", "{}", {"title": "t"})
    partial = store.claim("2026-11", "subgroup_audit")
    (partial.folder / "page.html").write_text("<p>3, half")
    for claim in (whole, partial):  # killed: their locks go, their folders stay
        claim._owner.close()
        claim._owner = None
    with store.lock():
        store.repair()
    manifest = store.read_manifest("2026-11")
    assert [e["revision"] for e in manifest["reports"]] == [1, 2]
    assert (tmp_path / "2026-11" / "subgroup_audit.r2.html").read_text() == "<p>2</p>"
    assert not (tmp_path / "2026-11" / ".staging").exists()
    assert store.next_revision("2026-11", "subgroup_audit") == 3  # 3 is free again


def test_manifest_errors_name_the_file_and_the_damage(tmp_path):
    from aidebt.errors import InvalidValueError
    from aidebt.report.store import ManifestError

    store = ReportStore(tmp_path)
    _publish(store, 1)
    path = tmp_path / "2026-11" / "manifest.json"
    doc = json.loads(path.read_text())
    for damage, reason in [
        ({**doc, "manifest_version": 99}, "written by a newer aidebt"),
        ({**doc, "reports": [{**doc["reports"][0], "html": "../../etc/passwd"}]}, "has html"),
        ({**doc, "reports": [{**doc["reports"][0], "revision": True}]}, "has revision True"),
        ({**doc, "last_revision": {"subgroup_audit": "x"}}, "last_revision"),
    ]:
        path.write_text(json.dumps(damage))
        with pytest.raises(ManifestError, match=reason) as caught:
            store.read_manifest("2026-11")
        assert isinstance(caught.value, InvalidValueError) and str(path) in str(caught.value)
        assert "2026-11/manifest.json" in build_index(tmp_path)


def test_index_reads_old_manifests_with_a_reused_revision_and_marks_removed_pages(tmp_path):
    """A manifest written before revisions only went up can list one number twice:
    the later entry is the latest. A page deleted by hand is listed as removed."""
    store = ReportStore(tmp_path)
    _publish(store, 1, title="old")
    path = tmp_path / "2026-11" / "manifest.json"
    doc = json.loads(path.read_text())
    doc["reports"].append({**doc["reports"][0], "title": "newer", "finished": "2026-12-02"})
    path.write_text(json.dumps(doc))
    page = build_index(tmp_path)
    assert page.index("newer") < page.index("(2026-12-01 02:03)")
    _publish(store, 2)
    (tmp_path / "2026-11" / "subgroup_audit.r2.html").unlink()
    row = build_index(tmp_path).split("<tbody>")[1].split("</tr>")[0]
    assert "revision 1" in row and "r2 removed" in row
    assert 'href="2026-11/subgroup_audit.r2.html"' not in row
