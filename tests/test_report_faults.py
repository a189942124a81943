"""Fault injection into publishing: kill -9 after every file-system step of a render, on
a file system with and without hard links, and a disk that fills up at every write.

After each fault the record must be consistent (every manifest entry whole, no empty
HTML, every link of the index alive) and, after the next run, settled: nothing published
outside the manifest and the index, no revision number skipped or reused, no leftovers.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from record import (
    check_record,
    fake_execute,
    install_fake_kernel,
    render_fake,
    revisions,
)

from aidebt.errors import AidebtError

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


class Renderer:
    """tests/record.py serving renders: each a fork of one process that imported all."""

    def __init__(self, data, notebooks, log):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
        self.log = open(log, "w")  # noqa: SIM115 - closed in close()
        argv = [sys.executable, str(HERE / "record.py"), str(data), str(notebooks)]
        self.process = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )

    def __call__(self, out, kill_after=0, no_link=False, trace=None) -> str:
        request = {"out": str(out), "kill_after": kill_after, "no_link": no_link}
        self.process.stdin.write(json.dumps({**request, "trace": trace and str(trace)}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["status"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self.log.close()


@pytest.fixture(scope="module")
def renderer(tmp_path_factory, small_log, test_notebooks):
    log = tmp_path_factory.mktemp("renderer") / "stderr.txt"
    serving = Renderer(small_log, test_notebooks, log)
    yield serving
    serving.close()


def _steps_to_kill(steps):
    """Every step, except creating a temporary file that the next step fills: killed
    after either, a run leaves the same thing behind (a temporary file)."""
    return [
        (k, step)
        for k, step in enumerate(steps, 1)
        if not (step.startswith("open ") and step.endswith(".tmp"))
    ]


@pytest.fixture(scope="module")
def history(tmp_path_factory, small_log, test_notebooks):
    """A reports folder with one published revision: the state every fault starts from."""
    import papermill

    real, papermill.execute_notebook = papermill.execute_notebook, fake_execute
    try:
        out = tmp_path_factory.mktemp("history") / "reports"
        render_fake(out, small_log, test_notebooks)
    finally:
        papermill.execute_notebook = real
    return out


@pytest.mark.parametrize("no_link", [False, True], ids=["hard links", "no hard links"])
def test_kill_9_after_every_step_of_publishing(tmp_path, history, renderer, no_link):
    trace = tmp_path / "steps.json"
    assert (
        renderer(shutil.copytree(history, tmp_path / "dry"), no_link=no_link, trace=trace)
        == "exit 0"
    )
    steps = json.loads(trace.read_text())
    assert any(s.endswith("-> 2026-11/chart.r2.html") for s in steps), steps
    failures = {}
    for k, step in _steps_to_kill(steps):
        out = shutil.copytree(history, tmp_path / f"k{k}")
        assert renderer(out, kill_after=k, no_link=no_link) == "killed", step
        after_kill = check_record(out, settled=False)
        status = renderer(out, no_link=no_link)  # the next run, on the same file system
        after_next = check_record(out) + ([] if status == "exit 0" else [status])
        published = revisions(out)
        if after_kill or after_next or published[-1] not in (2, 3):
            failures[f"{k}: killed after {step}"] = after_kill + after_next + [str(published)]
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_a_full_disk_at_every_write(tmp_path, monkeypatch, history, small_log, test_notebooks):
    """Every write under the reports folder (a folder made, a file created, data flushed)
    fails in turn with ENOSPC: one clear error, nothing half-published, and the next run
    (with space again) publishes the next number."""
    install_fake_kernel(monkeypatch)
    real = {name: getattr(os, name) for name in ("fsync", "mkdir", "open")}
    failures = {}
    for k in range(1, 60):
        out = shutil.copytree(history, tmp_path / f"k{k}")
        root, count = str(out.resolve()), [0]

        def full(name, *args, root=root, count=count, k=k, **kwargs):
            if name == "fsync":
                target = os.readlink(f"/proc/self/fd/{args[0]}")
            else:
                creates = name == "mkdir" or (len(args) > 1 and args[1] & os.O_CREAT)
                target = os.path.abspath(args[0]) if creates else ""
            if target.startswith(root):
                count[0] += 1
                if count[0] == k:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
            return real[name](*args, **kwargs)

        for name in real:
            monkeypatch.setattr(os, name, functools.partial(full, name))
        try:
            render_fake(out, small_log, test_notebooks)
        except AidebtError as exc:
            assert "No space left on device" in str(exc) and "\n" not in str(exc)
        except OSError as exc:
            failures[f"write {k}"] = [f"raw {exc!r}"]
        for name, function in real.items():
            monkeypatch.setattr(os, name, function)
        if count[0] < k:  # the whole run wrote fewer times: every write has failed once
            break
        problems = check_record(out, index_complete=False)
        render_fake(out, small_log, test_notebooks)
        problems += check_record(out)
        if problems:
            failures.setdefault(f"write {k}", []).extend(problems)
    assert k > 10
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())
