"""A self-contained report page opened in a real headless Chromium (Debian's ``chromium``,
driven by Playwright): what it logged, what it fetched, and whether its charts drew."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent.parent / ".pytest_artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "Debian's chromium is installed by .ci/run"

# Per chart: drawn and point counts from the page's script, and the canvas pixels inked.
_CHARTS_JS = """els => els.map(el => {
    const canvas = el.querySelector('canvas');
    let inked = 0;
    if (canvas) {
      const ctx = canvas.getContext('2d');
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
    }
    return {id: el.id, drawn: el.dataset.drawn, points: +el.dataset.points, inked};
})"""


@dataclass
class Opened:
    errors: list[str] = field(default_factory=list)  # console errors and page exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    charts: list[dict[str, Any]] = field(default_factory=list)
    extra: Any = None  # whatever ``then`` returned

    def offline(self) -> bool:
        return all(url.startswith(("file://", "data:", "about:")) for url in self.requests)

    def drawn(self) -> bool:
        return all(
            c["drawn"] == "true" and c["points"] > 0 and c["inked"] > 1000 for c in self.charts
        )


def open_page(path: Path, screenshot: str, then: Callable[[Any], Any] | None = None) -> Opened:
    """Load ``path``, collect what it did, save a full-page screenshot to ARTIFACTS, and
    run ``then(page)`` before the browser closes."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    opened = Opened()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on(
                "console", lambda m: opened.errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: opened.errors.append(str(e)))
            page.on("request", lambda r: opened.requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            opened.charts = page.eval_on_selector_all(".chart", _CHARTS_JS)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
            opened.extra = then(page) if then else None
        finally:
            browser.close()
    return opened
