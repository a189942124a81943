"""The ``aidebt`` command: ``demo``, ``report``, ``list``, ``check``.

``check`` needs only the library; ``demo``, ``report`` and ``list`` render or read
notebooks and need the ``aidebt[report]`` extra (without it they say which install
command fixes it). This module imports nothing heavy: ``aidebt --help`` stays instant.

Each subcommand is a pair of functions: ``add_<name>_parser(subparsers)`` declares its
options and ``cmd_<name>(args) -> int`` runs it; :data:`COMMANDS` lists the ``add_``
functions. A new subcommand is one more pair and one more entry.

Exit codes: 0 success; 1 the work ran and failed (a notebook raised); 2 bad input
(unknown parameter, missing or unreadable file, month without rows, bad option), said
in one ``aidebt: error:`` line.

Everything the command prints goes through :func:`say`, which escapes control
characters (:func:`aidebt.errors.printable`): a value from the data (a segment named
with ANSI escapes and a newline, say) prints as text on its own line and can neither
erase nor forge a verdict line in a terminal or a CI log.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from aidebt.errors import (
    AidebtError,
    InvalidArgumentError,
    MissingExtraError,
    NotebookFailedError,
    ReportError,
    printable,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEMO_DATA = "demo_data"
DEMO_REPORTS = "reports"
DEMO_TABLES = {
    "label_data": "labels",
    "versions_data": "versions",
    "published_data": "published",
    "events_data": "events",
    "ratings_data": "ratings",
    "usage_data": "usage",
}
"""Notebook parameter -> the demo table (:func:`aidebt.datasets.write_demo`) it reads."""

REPORT_EXTRA = ("papermill", "nbconvert", "nbformat", "ipykernel")
"""What rendering notebooks needs beyond the library: ``pip install 'aidebt[report]'``."""


def say(*lines: object, err: bool = False) -> None:
    """Print each of ``lines`` on a line of its own, control characters escaped.

    The one way this module prints: each argument is one line, so a newline inside a
    value is shown as ``\\n`` instead of starting a line of its own.
    """
    stream = sys.stderr if err else sys.stdout
    for line in lines:
        print(printable(line), file=stream)


def _installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    return importlib.util.find_spec(name) is not None


def require_report_extra(command: str, modules: Sequence[str] = REPORT_EXTRA) -> None:
    """Fail with the install command that fixes it when the report extra is missing."""
    # Found, not imported: importing nbconvert and papermill takes seconds, and a run that
    # fails its checks (a misspelled column) must fail in one.
    missing = [name for name in modules if not _installed(name)]
    if missing:
        raise MissingExtraError(
            f"aidebt {command} renders notebooks and needs the report extra "
            f"({', '.join(missing)} not installed): pip install 'aidebt[report]'"
        )


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress


def _add_common_render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="reports folder (default: the config's, else ./reports)")
    p.add_argument(
        "--notebooks",
        dest="notebooks_dir",
        metavar="DIR",
        help="render notebooks from DIR, not aidebt's",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


# -- demo ---------------------------------------------------------------------------


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="write the demo data and render every notebook for its latest month",
        description="Write the demo data to demo_data/, render every notebook for the "
        "latest month into reports/, and print the path of reports/index.html.",
    )
    p.add_argument("--data-dir", default=DEMO_DATA, help=f"where to write the data ({DEMO_DATA})")
    _add_common_render_options(p)
    p.set_defaults(func=cmd_demo, out=None)


def cmd_demo(args: argparse.Namespace) -> int:
    require_report_extra("demo")
    from aidebt.datasets import write_demo
    from aidebt.frames import latest_month
    from aidebt.report import render
    from aidebt.report.notebooks import example_policy, shipped

    paths = write_demo(args.data_dir)
    month = latest_month(paths["production"], "ts")  # the demo log's time column
    say(f"demo data: {Path(args.data_dir)} ({', '.join(sorted(paths))}); rendering {month}")
    # The companion tables of the reports beyond the log and its golden set, and the files
    # that describe the demo feature (its version gates, its lifecycle registry): their
    # columns and words are in examples/audit.toml; aidebt's own notebooks declare these.
    parameters = {}
    if args.notebooks_dir is None:
        parameters = {
            name: str(paths[table]) for name, table in DEMO_TABLES.items() if table in paths
        }
        examples = shipped("examples")
        for name, file in (("versions_config", "versions.toml"), ("registry", "registry.toml")):
            if examples and (examples / file).is_file():
                parameters[name] = str(examples / file)
    result = render(
        "all",
        month=month,
        data=paths["production"],
        eval_data=paths["eval"],
        parameters=parameters,
        # The demo's columns, words and gate policy are those of examples/audit.toml (the
        # monthly report shows a gate verdict); the data paths above take precedence over
        # the ones written in it.
        config=example_policy(),
        out=Path(args.out or DEMO_REPORTS),
        notebooks_dir=args.notebooks_dir,
        progress=_progress(args),
    )
    _print_published(result)
    say(result.index.resolve())
    return EXIT_OK


# -- report -------------------------------------------------------------------------


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="render notebooks for a month into offline, versioned HTML",
        description="Render NOTEBOOK (or all notebooks) for --month (or a longer --period "
        "or --window) into OUT/PERIOD/NAME.html with the executed notebook and "
        "manifest.json. A rerun of the same period adds a revision; nothing published is "
        "ever overwritten. Notebooks that do not apply to the data (no version column, no "
        "golden set...) are skipped with their reason.",
    )
    p.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help="notebook names or .ipynb paths, or 'all' (default)",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="audit.toml: data path and column roles")
    source.add_argument("--data", metavar="PATH", help="the data: a parquet file or folder, or CSV")
    p.add_argument(
        "--eval-data",
        metavar="PATH",
        help="the evaluation (golden) set (default: the config's [data] eval_path)",
    )
    period = p.add_mutually_exclusive_group(required=True)
    period.add_argument(
        "--month",
        metavar="YYYY-MM",
        help="the month to report on, or 'latest' (the last month with rows)",
    )
    period.add_argument(
        "--period",
        metavar="PERIOD",
        help="a quarter (2026-Q3), a year (2026), a month, 'latest' or 'all' (every month "
        "of the data): the whole period as one report",
    )
    period.add_argument(
        "--window",
        metavar="FROM..TO",
        help="a run of months, e.g. 2025-01..2026-06, as one report",
    )
    p.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        action="append",
        nargs=2,
        default=[],
        metavar=("NAME", "VALUE"),
        help='a notebook parameter; VALUE is YAML (-p segments "[region, tier]", -p slo 0.9); '
        "None, null or ~ mean not given; the period, the data, the eval set and the config "
        "are set by their own options",
    )
    p.add_argument("--with-code", action="store_true", help="show code cells in the HTML")
    p.add_argument(
        "--min-n",
        type=_non_negative_int,
        metavar="N",
        help="suppress groups with fewer than N rows in the shared reports",
    )
    _add_common_render_options(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    require_report_extra("report")
    from aidebt.periods import Month, Window
    from aidebt.report import parse_value, render

    # The period, checked before anything is read ("latest" and "all" read the data).
    month = args.month or args.period or args.window
    if args.month is not None and args.month.strip().lower() != "latest":
        try:
            month = Month.parse(args.month)
        except InvalidArgumentError:
            if (
                args.month.strip().lower() == "all"
                or ".." in args.month
                or "Q" in args.month.upper()
            ):
                raise InvalidArgumentError(
                    f"--month takes one month (YYYY-MM) or 'latest', got {args.month!r}: for a "
                    "quarter, a year, every month or a run of months use --period or --window "
                    "(--period 2026-Q3, --period all, --window 2025-01..2026-06)."
                ) from None
            raise
    elif args.window is not None:
        if ".." not in args.window:
            raise InvalidArgumentError(
                f"--window must be two months joined by '..' (2025-01..2026-06), got "
                f"{args.window!r}; use --month or --period for one month, quarter or year."
            )
        month = Window.parse(args.window)
    elif args.period is not None and args.period.strip().lower() not in ("latest", "all"):
        month = Window.parse(args.period)
    parameters = {name: parse_value(value) for name, value in args.parameters}
    result = render(
        args.notebooks or "all",
        month=month,
        data=args.data,
        eval_data=args.eval_data,
        config=args.config,
        parameters=parameters,
        out=args.out,
        with_code=args.with_code,
        min_n=args.min_n,
        notebooks_dir=args.notebooks_dir,
        progress=_progress(args),
    )
    _print_published(result)
    return EXIT_OK


def _print_published(result) -> None:
    say(*(f"skipped   {item.name}: {item.reason}" for item in result.skipped))
    say(*(f"published {item.html}" for item in result.published))
    if result.index is not None:
        say(f"index     {result.index}")


# -- list ---------------------------------------------------------------------------


def add_list_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list",
        help="list the report notebooks and their parameters",
        description="List the notebooks 'aidebt report all' renders, with their parameters.",
    )
    p.add_argument(
        "--notebooks",
        dest="notebooks_dir",
        metavar="DIR",
        help="list notebooks in DIR, not aidebt's",
    )
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    require_report_extra("list", ("papermill", "nbformat"))
    from aidebt.report import list_notebooks
    from aidebt.report.notebooks import inspect_parameters, notebook_title, read_notebook

    paths = list_notebooks(args.notebooks_dir)
    if not paths:
        say("no notebooks found")
        return EXIT_OK
    for path in paths:
        say(f"{path.stem}: {notebook_title(read_notebook(path), path.stem)}")
        for param in inspect_parameters(path).values():
            note = f"  # {param.help}" if param.help else ""
            say(f"    {param.name} = {param.source}{note}")
    return EXIT_OK


# -- check --------------------------------------------------------------------------


def add_check_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check the readiness stages and rollback triggers of audit.toml",
        description="Check the [gates.*] stages and [rollback] triggers of --config on "
        "--month (default: the latest month of the data). Exit 0 when every stage passes "
        "(or --stage and the stages before it) and no rollback trigger fired, 1 when a "
        "criterion fails or a trigger fired, 2 for bad input.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="audit.toml with [gates.*]")
    p.add_argument("--month", metavar="YYYY-MM", help="the month to check (default: latest)")
    p.add_argument("--data", metavar="PATH", help="the data (default: the config's [data] path)")
    p.add_argument("--stage", metavar="NAME", help="pass when NAME and the stages before it pass")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="list every failing check, not the first 8"
    )
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from aidebt.gates import check
    from aidebt.periods import Month

    month = None if args.month is None else Month.parse(args.month)  # before anything is read
    result = check(args.config, data=args.data, month=month)
    ok = result.passes(args.stage) if args.stage else result.passed
    # one line at a time: the verdict's own lines, each value in them escaped
    say(*result.verdict(limit=None if args.verbose else 8, more="-v lists them all").split("\n"))
    if result.rollback:
        say("FAIL: a rollback trigger fired.")
        return EXIT_FAILED
    if not ok:
        target = args.stage or result.stages[-1]
        say(f"FAIL: {target} is not reached.")
        return EXIT_FAILED
    say(f"PASS: {args.stage or 'every stage'} reached.")
    return EXIT_OK


# -- main ---------------------------------------------------------------------------

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_demo_parser,
    add_report_parser,
    add_list_parser,
    add_check_parser,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aidebt",
        description="Audit the silent debt of production AI features.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    say(f"aidebt: warning: {message}", err=True)


def unreadable(exc: BaseException) -> str | None:
    """The one-line message of an error raised while reading an input (a file that is
    missing or not readable, a CSV that is not UTF-8, a file the engine cannot parse),
    or None for any other error, which keeps its traceback."""
    if isinstance(exc, UnicodeDecodeError):
        return f"an input is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8."
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot read{where}: {exc.strerror or exc}"
    engine_errors = tuple(
        cls
        for module, name in (
            ("polars.exceptions", "PolarsError"),
            ("narwhals.exceptions", "ComputeError"),
        )
        if (cls := getattr(sys.modules.get(module), name, None)) is not None
    )
    if not isinstance(exc, engine_errors):
        return None
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    hint = "; the file must be UTF-8 text: convert it first" if "utf-8" in text.lower() else ""
    return f"cannot read the data: {text}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aidebt`` command line; return the exit code.

    Examples
    --------
    >>> main(["list", "--notebooks", "/nonexistent"])
    no notebooks found
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return int(exc.code or 0)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except NotebookFailedError as exc:
        say(*(f"aidebt: error: {failure}" for failure in exc.failures), err=True)
        if exc.result is not None:
            _print_published(exc.result)
        return EXIT_FAILED
    except ReportError as exc:
        say(f"aidebt: error: {exc}", err=True)
        return EXIT_FAILED
    except AidebtError as exc:
        say(f"aidebt: error: {exc}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = unreadable(exc)
        if message is None:
            raise
        say(f"aidebt: error: {message}", err=True)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
