"""Headless Chromium for the page and badge tests: Debian's ``chromium`` driven by Python's ``playwright``, the
axe-core that ``tests/browser/package.json`` pins, and the texts every page and badge must hold.

``scripts/test.sh`` installs all of them (the Debian packages ``chromium``, ``fonts-dejavu-core`` for Latin, Greek,
Cyrillic, Hebrew and Arabic, and ``fonts-wqy-microhei`` for Chinese and Japanese; ``npm ci --prefix tests/browser``
for axe-core); a test that misses one is skipped on a developer's machine and fails in CI (:mod:`tests.utils.ci`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.utils.ci import tool_missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KUDOS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Screenshots of every run (not kept in git).
ARTIFACTS = ROOT / "test-artifacts"
#: Pictures the README shows, made by the test run.
DOCS = ROOT / "docs"
#: The pinned axe-core (``npm ci --prefix tests/browser``).
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
#: The rules axe-core runs: WCAG 2.0, 2.1 and 2.2, levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: Phone and desktop viewports.
PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


@contextmanager
def chromium() -> Iterator[Playwright]:
    """Python's playwright, to drive Debian's Chromium (once per module: it cannot run twice at once)."""
    if shutil.which(CHROMIUM) is None:
        tool_missing(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        tool_missing("the playwright package is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        yield playwright


def launch(playwright: Playwright, **options: Any) -> Browser:
    """Debian's Chromium, headless."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **options)


def require_fonts() -> None:
    """Fonts for every script of :data:`TEXTS`: fontconfig must name one for Chinese, Japanese, Hebrew and Arabic
    (else Chromium draws boxes whose widths prove nothing)."""
    if shutil.which("fc-list") is None:
        tool_missing("no fontconfig (fc-list): apt-get install fontconfig")
    for lang, package in (("zh-cn", "fonts-wqy-microhei"), ("ja", "fonts-wqy-microhei"), ("he", "fonts-dejavu-core"),
                          ("ar", "fonts-dejavu-core")):  # fmt: skip
        found = subprocess.run(["fc-list", f":lang={lang}", "family"], capture_output=True, text=True, check=False)
        if not found.stdout.strip():
            tool_missing(f"no font for {lang}: apt-get install {package}")


def axe_violations(page: Page) -> list[str]:
    """The WCAG 2.2 A and AA violations axe-core finds in ``page``'s document, one line each (rule, impact, the
    first elements)."""
    if not AXE.is_file():
        tool_missing(f"no axe-core at {AXE.relative_to(ROOT)}: npm ci --prefix tests/browser")
    if not page.evaluate("typeof window.axe === 'object'"):
        # evaluated as a script, not added as a <script> element, so the page's CSP (no scripts) does not refuse it
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        "tags => axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }).then("
        "r => r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')) })))",
        AXE_TAGS,
    )
    return [f"{v['id']} ({v['impact']}): {json.dumps(v['nodes'][:3])}" for v in found]


@dataclass(frozen=True)
class Text:
    """One kudos's people's text in one script (or at one length)."""

    name: str
    kind_name: str
    message: str
    awarded_by: str


LONG_MESSAGE = (
    "Thank you for the months you spent on the migration. You read every one of the four hundred failing tests, "
    "found the three that mattered, wrote the runbook the on-call team now swears by, and still found the time to "
    "pair with every new hire who asked. The launch happened on the day we promised because of you, and nobody "
    "had to work a weekend. Customers noticed: support tickets fell by a third in the first week. We are lucky "
    "to work with you, and we wanted the whole company to know it."
)
LONG_GIVER = (
    "Grace Brewster Murray Hopper, Rear Admiral, United States Navy, on behalf of the Programming Languages Group, "
    "the Compiler Working Party and the Committee on Data Systems Languages (CODASYL), Pentagon"
)
#: The texts each badge and each wallet page is tried with: long Latin, a 200-character giver, Japanese, Chinese,
#: Arabic, Hebrew, and Latin mixed with Arabic.
TEXTS = (
    Text(
        "long-latin",
        "Above and Beyond the Call of Duty, Every Single Day",
        LONG_MESSAGE,
        "Vice President of People Operations and Culture, EMEA & APAC",
    ),
    Text("long-giver", "Mentor", "For the patient code reviews.", LONG_GIVER),
    Text(
        "japanese",
        "チームプレーヤー",
        "いつも丁寧なコードレビューをありがとうございます。おかげで予定どおりにリリースできました。",
        "山田 太郎",
    ),
    Text("chinese", "团队精神", "感谢你在发布前一周的辛勤工作，你让整个团队都轻松了许多。谢谢！", "王小明"),  # noqa: RUF001
    Text("arabic", "روح الفريق", "شكراً جزيلاً على مساعدتك في إطلاق المنتج الجديد.", "فاطمة الزهراء"),
    Text("hebrew", "עבודת צוות", "תודה רבה על העזרה בהשקה של המוצר החדש.", "יעל כהן"),
    Text("mixed", "Team Player", "Thanks for the launch, شكراً لك يا صديقي! Version 2.0 shipped.", "Fatima فاطمة"),
)
assert len(LONG_GIVER) == 200
