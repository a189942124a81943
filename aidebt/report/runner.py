"""Render report notebooks for a period: validate, execute with papermill, publish.

Everything that can be checked is checked before the first cell runs: the period, the
notebooks, every parameter against what the notebooks declare, every column a parameter
names against the data's schema, every input file, and that the period has rows. A
notebook whose needed inputs are absent is skipped with its one-line reason. Only then
does each notebook execute; one that fails publishes nothing and is kept under
``_failed/``, the others still publish.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from aidebt.config import AuditConfig, load_config
from aidebt.errors import InvalidArgumentError, NotebookFailedError, printable
from aidebt.periods import Month, Window
from aidebt.report._io import sha256_file
from aidebt.report.inputs import describe_input, resolve_period
from aidebt.report.notebooks import (
    ALL,
    Parameter,
    bind_parameters,
    inspect_parameters,
    notebook_title,
    resolve_notebooks,
)
from aidebt.report.schema import Schemas, check_columns, not_applicable
from aidebt.report.store import FAILED, Published, ReportStore

DEFAULT_OUT = "reports"
DEFAULT_TIME = "ts"

PACKAGES = (
    "aidebt",
    "polars",
    "narwhals",
    "numpy",
    "scipy",
    "statsmodels",
    "altair",
    "vl-convert-python",
    "pyarrow",
    "papermill",
    "nbconvert",
    "nbformat",
    "ipykernel",
)
"""Packages whose versions every manifest records."""

_SETUP_SOURCE = "import aidebt.report.kernel as _aidebt_kernel\n_aidebt_kernel.setup()"


@dataclass(frozen=True)
class Failure:
    """A notebook that raised: where, what, and where its executed copy was kept."""

    name: str
    month: str
    cell: int | None
    ename: str
    evalue: str
    line: str = ""
    kept: Path | None = None

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "an unknown cell"
        code = f" ({self.line})" if self.line else ""
        kept = f"; executed notebook kept at {self.kept}" if self.kept else ""
        return f"notebook {self.name!r} failed in {where}{code}: {self.ename}: {self.evalue}{kept}"


@dataclass(frozen=True)
class Skipped:
    """A notebook that does not apply to the data given, and what would enable it."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass
class RenderResult:
    """What a :func:`render` run published, skipped and what failed.

    ``month`` is the period reported on (a :class:`~aidebt.periods.Window`: one month,
    or any run of months); ``str(result.month)`` names its folder.
    """

    month: Window
    out: Path
    published: list[Published] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    index: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class _Job:
    path: Path
    parameters: dict[str, Any]
    inputs: dict[str, dict[str, Any]]
    period: Window | None = None
    skipped: str | None = None  # why the notebook does not apply (it is not run)

    @property
    def name(self) -> str:
        return self.path.stem


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _absolute(value: Any) -> str | None:
    return None if value is None else str(Path(value).expanduser().resolve())


def _is_input(name: str) -> bool:
    """Parameters that name input files: fingerprinted in the manifest."""
    return name == "data" or name.endswith(("_data", "_path"))


def _is_file(name: str) -> bool:
    """Parameters that name a settings file (a policy, a registry): like an input, made
    absolute (relative to the config when written in it), fingerprinted by its sha256 and
    published relative to the report."""
    return name in ("config", "registry") or name.endswith("_config")


def _time_column(bound: Mapping[str, Any], declared: Mapping[str, Parameter]) -> str:
    if bound.get("time") is not None:
        return str(bound["time"])
    if "time" in declared and isinstance(declared["time"].default, str):
        return declared["time"].default
    if "time" in declared:  # declared with no default: the data's time column is needed
        raise InvalidArgumentError(
            "no time column given: the reports need the date or datetime column that places "
            "each row in a month. Set time in [data] of audit.toml, or pass -p time COLUMN."
        )
    return DEFAULT_TIME


def plan(
    notebooks: str | Sequence[str] = ALL,
    *,
    month: Window | Month | str,
    data: str | os.PathLike[str] | None = None,
    eval_data: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | AuditConfig | None = None,
    parameters: Mapping[str, Any] | None = None,
    min_n: int | None = None,
    notebooks_dir: str | os.PathLike[str] | None = None,
) -> list[_Job]:
    """Validate a run and return what it would execute; touches no file.

    ``month`` is the period: a month (``"2026-11"``), a quarter (``"2026-Q3"``), a year,
    a run of months (``"2025-01..2026-06"``), ``"latest"`` (the data's last month) or
    ``"all"`` (every month of the data). Notebooks that do not apply (a ``needed``
    parameter not given) come back with ``skipped`` set to the reason, and are not run.

    Raises :class:`~aidebt.errors.InvalidArgumentError` (bad period, unknown notebook or
    parameter, missing required parameter, missing file, a notebook named that does not
    apply), :class:`~aidebt.errors.ColumnNotFoundError` /
    :class:`~aidebt.errors.ColumnTypeError` (a parameter names a column the data lacks,
    or one of the wrong kind) or :class:`~aidebt.errors.InvalidValueError` (the period
    has no rows).
    """
    cfg = load_config(config) if isinstance(config, str | os.PathLike) else config
    cfg = cfg or AuditConfig()
    if notebooks == ALL and cfg.report.notebooks:
        notebooks = list(cfg.report.notebooks)
    named = [notebooks] if isinstance(notebooks, str) else list(notebooks)
    paths = resolve_notebooks(notebooks, notebooks_dir)
    declared = {p: inspect_parameters(p) for p in paths}

    common: dict[str, Any] = {
        **_config_relative(cfg.report.notebook_parameters(), cfg.path),
        **cfg.parameters(),
    }
    if cfg.path is not None:  # notebooks that check the policy's [gates.*] read it themselves
        common["config"] = str(Path(cfg.path).resolve())
    if data is not None:
        common["data"] = data
    if eval_data is not None:
        common["eval_data"] = eval_data
    if "data" not in common:
        raise InvalidArgumentError("no data to report on: pass --data PATH or --config FILE.")
    min_n = min_n if min_n is not None else cfg.report.min_n
    if min_n is not None:
        common["min_n"] = min_n
        without = [p.stem for p, params in declared.items() if "min_n" not in params]
        if without:
            warnings.warn(
                f"min_n={min_n} does not apply to {', '.join(without)}: "
                "these notebooks declare no min_n parameter, so they suppress no group.",
                stacklevel=2,
            )
    explicit = dict(parameters or {})
    for values in (common, explicit):
        for name in values:
            if (_is_input(name) or _is_file(name)) and values[name] is not None:
                values[name] = _absolute(values[name])
    _check_owned(common, explicit, [n for n in OWNED if n != "month"])

    # Which notebooks apply, and every column their parameters name: before any scan.
    given = {**common, **explicit}
    skipped: dict[Path, str] = {}
    for path, params in declared.items():
        reason = not_applicable(params, given)
        if reason is None:
            continue
        if path.stem in named or str(path) in named:  # asked for by name: bad input
            raise InvalidArgumentError(f"notebook {path.stem!r} does not apply: {reason}.")
        skipped[path] = reason
    if len(skipped) == len(declared):
        raise InvalidArgumentError(
            "no notebook applies to this data: "
            + " ".join(f"{p.stem}: {r}." for p, r in skipped.items())
        )
    schemas, checked = Schemas(), set()
    for path, params in declared.items():
        if path not in skipped:
            check_columns(path.stem, params, given, schemas, checked)

    # The period: "latest" and "all" are read from the data (its time column, checked).
    first = next(p for p in declared if p not in skipped)
    period = resolve_period(month, given.get("data"), _time_column(given, declared[first]))
    common["month"] = str(period)  # notebooks take parameters as JSON: the text
    _check_owned(common, explicit, ["month"])

    bound = bind_parameters(declared, common, explicit)
    described: dict[tuple[str, str | None], dict[str, Any]] = {}
    jobs = []
    for path, params in bound.items():
        if path in skipped:
            jobs.append(_Job(path=path, parameters=params, inputs={}, skipped=skipped[path]))
            continue
        inputs = {}
        for name, value in params.items():
            if _is_file(name) and value is not None:
                inputs[name] = _describe_file(value)
                continue
            if not _is_input(name) or value is None:
                continue
            time_col = _time_column(params, declared[path]) if name == "data" else None
            key = (value, time_col)
            if key not in described:
                described[key] = describe_input(
                    value, time=time_col, month=period if time_col else None
                )
            inputs[name] = described[key]
        jobs.append(_Job(path=path, parameters=params, inputs=inputs, period=period))
    return jobs


OWNED = {
    "month": "--month YYYY-MM (or --period, --window)",
    "data": "--data PATH (or [data] path in the config)",
    "eval_data": "--eval-data PATH (or [data] eval_path in the config)",
    "config": "--config FILE",
}
"""Parameters the runner sets itself, with the option that sets them.

The month names the folder and the page's header, and the data, the eval set and the
config are fingerprinted in the manifest: a ``-p`` value for one of them would publish
one month's figures under another month's name, or figures from a file the manifest
does not describe. So ``-p`` may repeat them but never change them."""


def _check_owned(common: Mapping[str, Any], explicit: dict[str, Any], names: list[str]) -> None:
    """Refuse a ``-p`` value for a parameter the runner sets (of ``names``), unless it
    agrees (then drop it); ``common`` holds the runner's values, paths already absolute."""
    for name in names:
        option = OWNED[name]
        if name not in explicit:
            continue
        given, ours = explicit[name], common.get(name)
        if name == "month":
            agrees = _same_month(given, ours)
        else:  # a path: the same file however it is written
            agrees = isinstance(given, str) and ours is not None and _absolute(given) == ours
        if not agrees:
            clash = f" {given!r} disagrees with {ours}" if ours is not None else ""
            raise InvalidArgumentError(f"-p {name}{clash}: {name} is set by {option}, not by -p.")
        del explicit[name]


def _same_month(given: Any, ours: str | None) -> bool:
    try:
        return str(Window.parse(str(given))) == ours
    except (InvalidArgumentError, ValueError):
        return False


def _config_relative(values: Mapping[str, Any], config: Path | None) -> dict[str, Any]:
    """Input paths given in ``[report.parameters]`` are relative to the config's folder."""
    base = Path(config).resolve().parent if config is not None else None
    out = dict(values)
    for name, value in values.items():
        if base is not None and (_is_input(name) or _is_file(name)) and isinstance(value, str):
            p = Path(value).expanduser()
            out[name] = str(p if p.is_absolute() else (base / p).resolve())
    return out


def _describe_file(path: str) -> dict[str, Any]:
    """Fingerprint of a file that is not a table (the config)."""
    p = Path(path)
    return {"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)}


def render(
    notebooks: str | Sequence[str] = ALL,
    *,
    month: Window | Month | str,
    data: str | os.PathLike[str] | None = None,
    eval_data: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | AuditConfig | None = None,
    parameters: Mapping[str, Any] | None = None,
    out: str | os.PathLike[str] | None = None,
    with_code: bool = False,
    min_n: int | None = None,
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    kernel_name: str = "python3",
    raise_on_failure: bool = True,
) -> RenderResult:
    """Render notebooks for a period into ``out/PERIOD/`` as offline HTML.

    Parameters
    ----------
    notebooks : "all", a name, or a list of names / ``.ipynb`` paths
    month : Window, Month or str
        The period: ``"YYYY-MM"``, ``"YYYY-Qn"``, ``"YYYY"``, ``"YYYY-MM..YYYY-MM"``,
        ``"latest"`` or ``"all"`` (see :func:`plan`). Its text (``"2026-11"``,
        ``"2026-Q3"``, ``"2025-01..2026-06"``) is passed to the notebooks as ``month`` and
        names the folder.
    data, eval_data : path, optional
        The production log and the evaluation set (override ``config``).
    config : path or AuditConfig, optional
        An ``audit.toml``: data path, column roles, output folder, ``min_n``.
    parameters : mapping, optional
        More notebook parameters (``-p NAME VALUE``); each must be declared by a notebook.
    out : path, optional
        The reports folder (default: the config's, else ``reports``). It must be a
        folder, or creatable, and take new files: checked before any notebook runs
        (:class:`~aidebt.errors.InvalidArgumentError`), like the month's manifest
        (:class:`~aidebt.report.store.ManifestError` when it is damaged).
    with_code : bool
        Show code cells in the HTML (for analysts).
    min_n : int, optional
        Passed as ``min_n`` to notebooks that declare it: groups with fewer rows are
        suppressed from the shared report.
    notebooks_dir : path, optional
        Where to find notebooks by name (default: aidebt's own).
    progress : bool
        Show a progress bar per notebook.
    raise_on_failure : bool
        Raise :class:`~aidebt.errors.NotebookFailedError` (after publishing the others)
        when a notebook fails; otherwise report it in the result.

    Returns
    -------
    RenderResult

    Each notebook publishes in one transaction (:mod:`aidebt.report.store`): its page,
    executed notebook and manifest entry appear together or not at all, and a run killed
    midway is repaired by the next one. Paths in the manifest and the executed notebook
    are relative to their folder. A publishing error (a full disk) raises
    :class:`~aidebt.errors.ReportError`.

    Examples
    --------
    >>> from aidebt.report import render
    >>> result = render("subgroup_audit", data="logs.parquet", month="2026-11")  # doctest: +SKIP
    >>> result.published[0].html  # doctest: +SKIP
    PosixPath('reports/2026-11/subgroup_audit.html')
    """
    cfg = load_config(config) if isinstance(config, str | os.PathLike) else config
    jobs = plan(
        notebooks,
        month=month,
        data=data,
        eval_data=eval_data,
        config=cfg,
        parameters=parameters,
        min_n=min_n,
        notebooks_dir=notebooks_dir,
    )
    if out is None:
        out = cfg.report.out if cfg is not None and cfg.report.out else DEFAULT_OUT
    period = next(job.period for job in jobs if job.skipped is None)
    month = str(period)
    store = ReportStore(out)
    store.check_writable(month)  # before any kernel starts: a bad --out is bad input
    result = RenderResult(month=period, out=store.root)
    result.skipped = [Skipped(job.name, job.skipped) for job in jobs if job.skipped]
    jobs = [job for job in jobs if job.skipped is None]
    environment = _environment(jobs[0].path.parent)

    # The working folder is repaired if a killed run left it, and removed afterwards;
    # the index is rewritten even when the run stops early: it lists what was published.
    try:
        with store.scratch() as tmp, _indexed(store, result):
            for i, job in enumerate(jobs, 1):
                bar = (
                    {"desc": f"{printable(job.name)} [{i}/{len(jobs)}]", "leave": True}
                    if progress
                    else False
                )
                outcome = _run_one(job, month, store, tmp, bar, kernel_name, with_code, environment)
                (result.published if isinstance(outcome, Published) else result.failed).append(
                    outcome
                )
    except OSError as exc:  # the reports folder failed midway (a full disk, say)
        from aidebt.errors import ReportError

        raise ReportError(f"could not write into {store.root}: {exc.strerror or exc}") from exc

    if result.failed and raise_on_failure:
        message = "\n".join(str(f) for f in result.failed)
        raise NotebookFailedError(message, result.failed, result)
    return result


@contextlib.contextmanager
def _indexed(store: ReportStore, result: RenderResult) -> Iterator[None]:
    from aidebt.errors import ReportError
    from aidebt.report.index import write_index

    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            result.index = write_index(store.root)
        raise
    try:
        result.index = write_index(store.root)
    except OSError as exc:
        raise ReportError(
            f"could not update {store.root / 'index.html'}: {exc.strerror or exc}; what was "
            "published is in the manifests, and the next run rewrites the index."
        ) from exc


def _run_one(
    job: _Job,
    month: str,
    store: ReportStore,
    tmp: Path,
    progress_bar: dict[str, Any] | bool,
    kernel_name: str,
    with_code: bool,
    environment: dict[str, Any],
) -> Published | Failure:
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from aidebt.report.export import SETUP_TAG, count_charts, to_html
    from aidebt.report.kernel import collect_figures

    source = nbformat.read(job.path, as_version=4)
    setup = nbformat.v4.new_code_cell(_SETUP_SOURCE, metadata={"tags": [SETUP_TAG]})
    prepared = nbformat.from_dict({**source, "cells": [setup, *source.cells]})
    executed_path = tmp / f"{job.name}.ipynb"
    started, clock = _now(), time.perf_counter()
    try:
        executed = papermill.execute_notebook(
            prepared,
            str(executed_path),
            parameters=job.parameters,
            kernel_name=kernel_name,
            progress_bar=progress_bar,
            cwd=str(job.path.parent),
        )
    except PapermillExecutionError as exc:
        cell, line = _locate(source, exc.source)
        return _keep_failed(
            store, month, job, executed_path, cell, exc.ename, exc.evalue, line, kernel_name
        )
    except Exception as exc:  # the kernel died, timed out, or could not start
        return _keep_failed(
            store, month, job, executed_path, None, type(exc).__name__, str(exc), "", kernel_name
        )
    finished, seconds = _now(), round(time.perf_counter() - clock, 3)

    title = notebook_title(source, job.name)
    if isinstance(job.parameters.get("title"), str) and job.parameters["title"].strip():
        title = f"{title} · {job.parameters['title'].strip()}"  # [report] title: what is audited
    base = store.month_dir(month)
    parameters = _portable_parameters(job.parameters, base)
    entry = {
        "title": title,
        "source": _source(job.path, base),
        "parameters": parameters,
        "inputs": {
            name: {**info, "path": _relative(info["path"], base)} if "path" in info else info
            for name, info in job.inputs.items()
        },
        "with_code": with_code,
        "charts": count_charts(executed),
        "key_figures": collect_figures(executed),
        "started": started,
        "finished": finished,
        "seconds": seconds,
        **environment,
    }
    for _ in range(100):  # a file outside aidebt's control may hold a revision's name
        try:
            with store.claim(month, job.name) as claim:
                page = to_html(
                    executed,
                    name=job.name,
                    title=title,
                    month=month,
                    revision=claim.revision,
                    generated=finished.replace("T", " ").replace("Z", " UTC"),
                    facts=_facts(job, environment, finished),
                    with_code=with_code,
                    period=Window.parse(month).kind,
                )
                notebook = _portable_notebook(
                    executed, parameters, kernel_name, entry["source"], claim.ipynb_name
                )
                return store.commit(claim, page, nbformat.writes(notebook), entry)
        except FileExistsError:
            continue
        except OSError as exc:  # a full disk, say: the store took back what it placed
            from aidebt.errors import ReportError

            raise ReportError(
                f"could not publish {job.name!r} into {base}: {exc.strerror or exc}; "
                "nothing was published for it."
            ) from exc
    raise FileExistsError(f"no free revision of {job.name!r} in {base} after 100 attempts")


def _keep_failed(
    store: ReportStore,
    month: str,
    job: _Job,
    executed_path: Path,
    cell: int | None,
    ename: str,
    evalue: str,
    line: str = "",
    kernel_name: str = "python3",
) -> Failure:
    import nbformat

    kept = None
    with contextlib.suppress(OSError, ValueError):  # a notebook kept is a courtesy
        base = store.root / FAILED / month
        executed = nbformat.read(executed_path, as_version=4)
        parameters = _portable_parameters(job.parameters, base)
        notebook = _portable_notebook(
            executed, parameters, kernel_name, _source(job.path, base), None
        )
        kept = store.keep_failed(month, job.name, nbformat.writes(notebook))
    return Failure(job.name, month, cell, ename, evalue, line, kept)


def _relative(path: str | os.PathLike[str], base: Path) -> str:
    """``path`` relative to the folder ``base`` (which need not exist), with ``/``."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return Path(path).name


def _portable_parameters(parameters: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The parameters as published: input and config paths relative to ``base``.

    The kernel ran on absolute paths; a manifest or notebook that is shared or archived
    must not carry the rendering machine's folders, and relative to the file that
    records them the paths still resolve.
    """
    return {
        name: _relative(value, base)
        if isinstance(value, str) and (_is_input(name) or _is_file(name))
        else value
        for name, value in parameters.items()
    }


def _source(path: Path, base: Path) -> str:
    """Where the notebook came from: ``aidebt:NAME.ipynb`` for aidebt's own."""
    from aidebt.report.notebooks import shipped

    own = shipped("notebooks")
    if own is not None and path.resolve().parent == own.resolve():
        return f"aidebt:{path.name}"
    return _relative(path, base)


def _portable_notebook(
    executed: Any,
    parameters: Mapping[str, Any],
    kernel_name: str,
    source: str,
    output: str | None,
) -> Any:
    """A copy of the executed notebook whose parameters cell and papermill metadata
    carry the published (relative) parameters instead of the machine's paths."""
    import copy

    nb = copy.deepcopy(executed)
    comment = "Parameters (paths relative to this notebook's folder)"
    language = nb.metadata.get("kernelspec", {}).get("language", "python")
    for cell in nb.cells:
        if "injected-parameters" not in cell.metadata.get("tags", []):
            continue
        try:
            from papermill.translators import translate_parameters

            cell.source = translate_parameters(kernel_name, language, dict(parameters), comment)
        except Exception:  # no translator for this kernel: swap the path texts instead
            ran = executed.metadata.get("papermill", {}).get("parameters", {})
            for name, value in parameters.items():
                if isinstance(value, str) and isinstance(ran.get(name), str):
                    cell.source = cell.source.replace(ran[name], value)
    meta = nb.metadata.get("papermill")
    if meta is not None:
        meta["parameters"] = dict(parameters)
        meta["input_path"] = source
        meta["output_path"] = output
    return nb


def _locate(nb: Any, source: str) -> tuple[int | None, str]:
    """1-based position of the failing cell in the notebook as written, and its first line."""
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code" and cell.source == source:
            first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
            return i, first[:80]
    return None, ""


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = _version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _git(directory: Path) -> dict[str, Any] | None:
    """The commit of the repository holding the notebooks, if they are in one."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(directory), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if not commit:
        return None
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def _environment(notebooks_dir: Path) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "packages": _package_versions(),
        "git": _git(notebooks_dir),
    }


def _facts(job: _Job, environment: dict[str, Any], finished: str) -> list[tuple[str, str]]:
    """The page footer's "How this report was made": no absolute paths, no secrets."""
    facts: list[tuple[str, str]] = []
    for name, value in job.parameters.items():
        if name in job.inputs:
            info = job.inputs[name]
            digest = f"sha256 {info['sha256'][:12]}…" if "sha256" in info else ""
            rows = f"{info['rows']:,} rows" if "rows" in info else ""
            if "month_rows" in info:
                rows = f"{info['month_rows']:,} rows in {info['month']} of {info['rows']:,}"
            detail = "; ".join(part for part in (rows, digest) if part)
            facts.append((name, f"{Path(info['path']).name} ({detail})"))
        else:
            facts.append((name, repr(value) if not isinstance(value, str) else value))
    packages = environment["packages"]
    facts.append(("aidebt", str(packages.get("aidebt"))))
    facts.append(
        ("libraries", ", ".join(f"{k} {v}" for k, v in packages.items() if v and k != "aidebt"))
    )
    git = environment.get("git")
    if git:
        facts.append(("git commit", git["commit"][:12] + (" (modified)" if git["dirty"] else "")))
    facts.append(("finished", finished))
    return facts
