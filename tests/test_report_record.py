"""The published record stays whole: one transaction per revision, defensive manifests,
revisions that only go up, a writable output folder, one lock for manifests and index,
no leftovers, and no absolute paths of the rendering machine.

Notebooks run on a fake kernel (tests/record.py) so each render costs an HTML export.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from pathlib import Path

import nbformat
import pytest
from record import check_record, install_fake_kernel, render_fake, revisions

from aidebt.cli import EXIT_USAGE, main
from aidebt.report.index import build_index


@pytest.fixture(autouse=True)
def fake_kernel(monkeypatch):
    install_fake_kernel(monkeypatch)


@pytest.fixture
def out(tmp_path):
    return tmp_path / "reports"


@pytest.fixture
def publish(out, small_log, test_notebooks):
    def run(name="chart", month="2026-11", **kw):
        return render_fake(out, small_log, test_notebooks, name=name, month=month, **kw)

    return run


def cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def background(target, name=None):
    """Run ``target`` in a thread; the returned ``join()`` gives what it raised."""
    raised = []

    def run():
        try:
            target()
        except BaseException as exc:  # pragma: no cover - reported by join()
            raised.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()

    def join():
        thread.join(120)
        return raised

    return join


def latest_row(page: str) -> str:
    """The first row of the first month's table: its newest report."""
    return page.split("<tbody>")[1].split("</tr>")[0]


def visible_files(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


# -- 6: manifests are read defensively ---------------------------------------------

DAMAGE = {
    "truncated": b'{"manifest_version": 1, "month": "2026-11", "reports": [',
    "binary": b"\x89PNG\r\n\x1a\n\x00\xff\xfe",
    "empty": b"",
    "a list": b"[]",
    "reports not a list": b'{"manifest_version": 1, "month": "2026-11", "reports": "x"}',
    "revision not a number": (
        b'{"manifest_version": 1, "month": "2026-11", "reports": '
        b'[{"notebook": "chart", "revision": "one", "html": "chart.html", "ipynb": "chart.ipynb"}]}'
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_corrupt_manifest_is_one_error_naming_the_file_and_nothing_is_published(
    capsys, out, small_log, test_notebooks, publish, damage
):
    publish()
    manifest = out / "2026-11" / "manifest.json"
    manifest.write_bytes(DAMAGE[damage])
    before = visible_files(out)
    code, _, err = cli(
        capsys,
        *("report", "chart", "--month", "2026-11", "--data", str(small_log)),
        *("--notebooks", str(test_notebooks), "--out", str(out), "--no-progress"),
    )
    assert code == EXIT_USAGE
    assert err.startswith("aidebt: error: ") and err.count("\n") == 1, err
    assert str(manifest) in err and "Traceback" not in err
    assert visible_files(out) == before and manifest.read_bytes() == DAMAGE[damage]


def test_a_bad_manifest_in_one_month_never_stops_the_index_listing_the_others(out, publish):
    publish(month="2026-10")
    (out / "2026-10" / "manifest.json").write_text('{"reports": [', encoding="utf-8")
    result = publish(month="2026-11")
    assert [p.revision for p in result.published] == [1]
    page = result.index.read_text(encoding="utf-8")
    assert 'href="2026-11/chart.html"' in page
    assert "2026-10" in page and "damaged" in page  # the month is there, said to be damaged
    assert 'href="2026-10/chart.html"' not in page
    assert str(out) not in page  # the shared page names the file, not the machine's path
    assert "2026-10/manifest.json" in build_index(out)


# -- 7: revision numbers only go up --------------------------------------------------


@pytest.mark.parametrize("deleted", [1, 2])
def test_deleting_a_revision_never_gives_its_number_again(out, publish, deleted):
    publish()
    publish()
    month = out / "2026-11"
    stem = "chart" if deleted == 1 else f"chart.r{deleted}"
    (month / f"{stem}.html").unlink()
    (month / f"{stem}.ipynb").unlink()
    (again,) = publish().published
    assert again.revision == 3
    assert revisions(out) == [1, 2, 3]  # one entry per revision
    page = (out / "index.html").read_text(encoding="utf-8")
    latest = latest_row(page)
    assert 'href="2026-11/chart.r3.html"' in latest and "revision 3" in latest


def test_revisions_go_up_even_when_the_newest_is_removed_from_the_manifest(out, publish):
    publish()
    publish()
    month = out / "2026-11"
    doc = json.loads((month / "manifest.json").read_text())
    doc["reports"] = [e for e in doc["reports"] if e["revision"] == 1]
    (month / "manifest.json").write_text(json.dumps(doc))
    for name in ("chart.r2.html", "chart.r2.ipynb"):
        (month / name).unlink()
    (again,) = publish().published
    assert again.revision == 3


# -- 8: the output folder ------------------------------------------------------------


def read_only(folder: Path, monkeypatch) -> None:
    """Make ``folder`` refuse new entries (root ignores permission bits: patch as well)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return
    inside = str(folder.resolve())

    writes = os.O_CREAT | os.O_WRONLY | os.O_RDWR

    def refuse(name, real):
        def call(path, *args, **kwargs):
            target = args[0] if name in ("link", "rename", "replace") else path
            if str(Path(os.fspath(target)).resolve()).startswith(inside):
                if name != "open" or (args[0] if args else 0) & writes:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))
            return real(path, *args, **kwargs)

        return call

    for name in ("open", "mkdir", "link", "rename", "replace"):
        monkeypatch.setattr(os, name, refuse(name, getattr(os, name)))


@pytest.mark.parametrize("where", ["empty", "devnull", "read-only", "under a file"])
def test_an_unusable_output_folder_is_one_error_exit_2_and_nothing_published(
    capsys, tmp_path, monkeypatch, small_log, test_notebooks, where
):
    monkeypatch.chdir(tmp_path)
    if where == "empty":
        out = ""
    elif where == "devnull":
        out = os.devnull
    elif where == "read-only":
        out = str(tmp_path / "locked")
        read_only(tmp_path / "locked", monkeypatch)
    else:
        (tmp_path / "a-file").write_text("x")
        out = str(tmp_path / "a-file" / "reports")
    code, stdout, err = cli(
        capsys,
        *("report", "chart", "--month", "2026-11", "--data", str(small_log)),
        *("--notebooks", str(test_notebooks), "--out", out, "--no-progress"),
    )
    assert code == EXIT_USAGE, err
    assert err.startswith("aidebt: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "published" not in stdout
    assert not list(tmp_path.rglob("*.html")) and not list(tmp_path.rglob("manifest.json"))


# -- 9: one lock for manifests and index; no leftovers; no absolute paths --------------


def test_the_index_is_built_under_the_manifest_lock(out, publish, monkeypatch):
    """Run A builds the index, then stalls before writing it; run B publishes r2 and
    writes its index meanwhile. A's stale index must not replace B's."""
    import aidebt.report.index as index

    publish()
    built, b_done = threading.Event(), threading.Event()
    real = index.build_index

    def slow_build(root):
        page = real(root)
        if threading.current_thread().name == "A":
            built.set()
            b_done.wait(timeout=5)  # under the lock, B cannot publish meanwhile
        return page

    monkeypatch.setattr(index, "build_index", slow_build)

    def b():
        try:
            built.wait(timeout=30)
            publish()
        finally:
            b_done.set()

    a_joined, b_joined = background(publish, name="A"), background(b, name="B")
    assert a_joined() == [] and b_joined() == []
    assert revisions(out) == [1, 2, 3]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="2026-11/chart.r3.html"' in page and "revision 3" in latest_row(page)
    assert check_record(out) == []


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM])
def test_publishing_without_hard_links(out, publish, monkeypatch, code):
    def no_link(src, dst, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(os, "link", no_link)
    publish()
    publish()
    assert revisions(out) == [1, 2]
    assert check_record(out) == []


def test_a_killed_run_s_leftovers_are_cleaned_by_the_next_run(out, publish):
    publish()
    month = out / "2026-11"
    # what kill -9 leaves: a run folder, half-written temporary files
    run = out / ".run-killed"
    run.mkdir()
    (run / "chart.ipynb").write_text("{")
    (out / ".index.html.x1y2.tmp").write_text("<html>")
    (month / ".manifest.json.x1y2.tmp").write_text("{")
    (month / ".chart.r2.html.x1y2.tmp").write_text("")
    publish()
    assert revisions(out) == [1, 2]
    assert check_record(out) == []


def test_a_live_run_s_folders_are_left_alone(out, publish, monkeypatch, small_log, test_notebooks):
    """Cleaning is safe: the folder of a run still executing is not a leftover."""
    import papermill

    started, release = threading.Event(), threading.Event()
    fake = papermill.execute_notebook

    def slow(input_path, output_path, **kw):
        if threading.current_thread().name == "slow":
            started.set()
            release.wait(timeout=30)
            assert Path(output_path).parent.is_dir(), "the live run's folder was removed"
        return fake(input_path, output_path, **kw)

    monkeypatch.setattr(papermill, "execute_notebook", slow)
    join = background(publish, name="slow")
    assert started.wait(30)
    try:
        publish(month="2026-10")  # a second run cleans stale leftovers meanwhile
    finally:
        release.set()
    assert join() == []
    assert revisions(out) == [1] and revisions(out, "2026-10") == [1]
    assert check_record(out) == []


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_published_files_carry_no_absolute_path_of_the_machine(
    tmp_path, small_log, test_notebooks, monkeypatch
):
    # the data next to a config, the notebooks and reports elsewhere
    project = tmp_path / "project"
    (project / "logs").mkdir(parents=True)
    shutil.copy(small_log, project / "logs" / "log.parquet")
    config = project / "audit.toml"
    config.write_text('[data]\npath = "logs/log.parquet"\n', encoding="utf-8")
    notebooks = tmp_path / "nbs"
    shutil.copytree(test_notebooks, notebooks)
    chart = nbformat.read(notebooks / "chart.ipynb", as_version=4)
    parameters = next(c for c in chart.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += "\nconfig = None  # the audit.toml"
    nbformat.write(chart, notebooks / "chart.ipynb")
    out = tmp_path / "reports"
    from aidebt.report import render

    result = render(
        "chart", month="2026-11", config=config, out=out, notebooks_dir=notebooks, progress=False
    )
    month = out / "2026-11"
    manifest = (month / "manifest.json").read_text(encoding="utf-8")
    notebook = (month / "chart.ipynb").read_text(encoding="utf-8")
    for text in (manifest, notebook):
        assert str(tmp_path) not in text
        assert not [s for s in _strings(json.loads(text)) if s.startswith("/")]
    (entry,) = json.loads(manifest)["reports"]
    # paths resolve from the folder of the file that records them
    assert (month / entry["parameters"]["data"]).resolve() == (project / "logs" / "log.parquet")
    assert (month / entry["inputs"]["data"]["path"]).resolve() == project / "logs" / "log.parquet"
    assert (month / entry["parameters"]["config"]).resolve() == config
    nb = json.loads(notebook)
    injected = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"]["tags"])
    assert f'data = "{entry["parameters"]["data"]}"' in "".join(injected["source"])
    assert nb["metadata"]["papermill"]["parameters"] == entry["parameters"]
    assert result.published[0].revision == 1


def test_a_clean_run_leaves_a_consistent_record(out, publish):
    publish()
    publish(name="plain", parameters={"note": "hi"})
    publish(month="2026-10")
    assert check_record(out) == []


def test_concurrent_runs_of_one_month_each_get_their_own_revision(out, publish):
    joins = [background(publish) for _ in range(3)]
    assert [join() for join in joins] == [[], [], []]
    assert revisions(out) == [1, 2, 3]
    assert check_record(out) == []
