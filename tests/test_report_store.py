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
