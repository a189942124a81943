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


def _offline(browser, path: str | os.PathLike[str], **options):
    """A new context and page that loads ``path`` with every network request aborted and
    waits for its charts."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.route(
        "**/*",
        lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort(),
    )
    try:
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_function(_CHARTS_SETTLED, timeout=60_000)
    except BaseException:
        context.close()
        raise
    return context, page


def hover_tooltip(browser, path: str | os.PathLike[str], selector: str) -> str:
    """Hover the first mark matching ``selector`` and return the tooltip's text."""
    context, page = _offline(browser, path)
    try:
        page.locator(selector).first.hover(force=True)
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=5_000)
        return tooltip.inner_text()
    finally:
        context.close()


# What a reader sees as prose: the page's cells, without the charts (drawn text) and the
# "How this report was made" footer (where technical names belong).
_PROSE = """() => {
    const main = document.querySelector('main.aidebt-report');
    const copy = main.cloneNode(true);
    copy.querySelectorAll('.aidebt-chart, .aidebt-chart-output, script, style').forEach(e => e.remove());
    return copy.innerText;
}"""

# The sentences alone: the prose without its tables (whose cells keep ``column=value``).
_SENTENCES = _PROSE.replace("script, style", "script, style, table")

# Every element that sticks out of the page's column, scrolls sideways, or a chart title
# or legend entry that vega had to shorten with an ellipsis.
_LAYOUT = """() => {
    const problems = [];
    const main = document.querySelector('main.aidebt-report');
    const box = main.getBoundingClientRect();
    const style = getComputedStyle(main);
    const right = box.right - parseFloat(style.paddingRight) + 1;
    for (const el of main.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
        if (r.right > right) {
            const what = el.className && el.className.baseVal !== undefined ? el.tagName : (el.tagName + '.' + el.className);
            problems.push(`sticks out by ${Math.round(r.right - right)}px: ${what} ${(el.innerText || '').slice(0, 60)}`);
        }
        if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
            problems.push(`scrolls sideways (${el.scrollWidth} > ${el.clientWidth}px): ${el.tagName}.${el.className}`);
        }
    }
    for (const t of main.querySelectorAll('svg .role-title text, svg .role-legend text, svg .role-legend-title text')) {
        if (t.textContent.includes('…')) problems.push(`cut: ${t.textContent}`);
    }
    return problems;
}"""


@dataclass
class PageLayout:
    """What a reader meets on a report page: its prose and what does not fit."""

    prose: str = ""
    problems: list[str] = field(default_factory=list)
    sentences: str = ""


def read_page(browser, path: str | os.PathLike[str], width: int = 1100) -> PageLayout:
    """Open ``path`` offline at a laptop's width and read its prose and layout problems."""
    context, page = _offline(browser, path, viewport={"width": width, "height": 900})
    try:
        return PageLayout(
            prose=page.evaluate(_PROSE),
            problems=page.evaluate(_LAYOUT),
            sentences=page.evaluate(_SENTENCES),
        )
    finally:
        context.close()
