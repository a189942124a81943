"""Open a rendered report in headless Chromium, offline, and say what happened.

Debian's ``/usr/bin/chromium`` is driven by playwright (never a downloaded browser).
Every request that is not ``file:`` or ``data:`` is aborted and recorded, so a page that
would need the network shows up as blocked requests (and blank charts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# True once every chart box has been drawn or has failed (vega-embed resolved).
_CHARTS_SETTLED = """() => Array.from(document.querySelectorAll('.aidebt-chart'))
    .every(box => box.hasAttribute('data-rendered'))"""
_CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('.aidebt-chart'))
    .filter(box => box.getAttribute('data-rendered') === 'true'
                   && box.querySelector('svg, canvas')).length"""


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


@dataclass
class PageReport:
    """What a page did when opened offline."""

    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    charts_total: int = 0
    charts_drawn: int = 0
    text: str = ""
    xss: object = None


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_report(browser, path: str | os.PathLike[str], timeout_ms: int = 30_000) -> PageReport:
    """Load ``path`` as a ``file://`` URL, wait for its charts, collect what happened."""
    report = PageReport()
    context = browser.new_context()
    page = context.new_page()

    def route(route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            report.blocked.append(url)
            route.abort()

    page.route("**/*", route)
    page.on(
        "console",
        lambda msg: report.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: report.console_errors.append(f"uncaught: {exc}"))
    try:
        page.goto(Path(path).resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        page.wait_for_function(_CHARTS_SETTLED, timeout=timeout_ms)
        report.charts_total = page.locator(".aidebt-chart").count()
        report.charts_drawn = page.evaluate(_CHARTS_DRAWN)
        report.text = page.inner_text("body")
        report.xss = page.evaluate("() => window.__xss === undefined ? null : window.__xss")
    finally:
        context.close()
    return report


def hover_tooltip(browser, path: str | os.PathLike[str], selector: str) -> str:
    """Hover the first mark matching ``selector`` and return the tooltip's text."""
    context = browser.new_context()
    page = context.new_page()
    page.route(
        "**/*",
        lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort(),
    )
    try:
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_function(_CHARTS_SETTLED)
        page.locator(selector).first.hover(force=True)
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=5_000)
        return tooltip.inner_text()
    finally:
        context.close()
