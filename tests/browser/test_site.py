"""The website (`make site`) in headless Chromium, served from 127.0.0.1 with every request to another host
refused, so a page that needs the network fails here. Every page: no console error, no failed request, no
broken internal link; chapters: maths typeset, every frozen explorer's picture shown, the precomputed
explorer playing (the slider moves, the picture changes), launch buttons opening that chapter's notebook.
Built here when the sources are newer than the site. Screenshots go to test-artifacts/site/."""

import functools
import http.server
import importlib.util
import re
import threading
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from harness import CHROMIUM, PICTURE, ROOT, VIEWPORT, check_the_player_plays

_spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
build = importlib.util.module_from_spec(_spec)  # site/build.py: what `make site` runs
_spec.loader.exec_module(build)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="browser test: no `chromium` on PATH (apt-get install chromium)"),
]

ARTIFACTS = ROOT / "test-artifacts" / "site"
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
SLUG = urlsplit(REPOSITORY).path.strip("/")
TIMEOUT_MS = 180_000


def sources() -> list[Path]:
    return [ROOT / "README.md", ROOT / "pyproject.toml", *ROOT.glob(build.CHAPTERS), *ROOT.glob("figures/*"),
            *ROOT.glob("docs/*.md"), *(p for p in build.SITE.rglob("*") if "__pycache__" not in p.parts)]


@pytest.fixture(scope="session")
def site():
    """The built site, served on 127.0.0.1 (rebuilt first when a source is newer)."""
    index = build.HTML / "index.html"
    if not index.exists() or max(p.stat().st_mtime for p in sources() if p.is_file()) > index.stat().st_mtime:
        build.build()
    handler = functools.partial(QuietHandler, directory=str(build.HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def pages() -> list[str]:
    """Every page of the site, relative to its root: the landing page, the chapters, docs/*.md, search, index."""
    return ["index.html", *chapter_pages(), *[f"docs/{p.stem}.html" for p in sorted(ROOT.glob("docs/*.md"))],
            "search.html", "genindex.html"]


def chapter_pages() -> list[str]:
    return [f"notebooks/{p.stem}.html" for p in sorted(ROOT.glob(build.CHAPTERS))]


class Visit:
    """A page opened in Chromium, with every console error, page error and failed or outside request."""

    def __init__(self, browser, site: str, path: str):
        self.problems: list[str] = []
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), self._refuse)
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        self.page.goto(site + path, wait_until="load")
        self.page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise"
                                    " .then(() => true)", polling=100)
        self.page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")

    def _refuse(self, route):
        self.problems.append(f"outside request: {route.request.url}")
        route.abort()


@pytest.mark.parametrize("path", pages())
def test_every_page_loads_cleanly_and_links_inside_the_site(path, site, browser):
    visit = Visit(browser, site, path)
    try:
        untypeset = visit.page.evaluate("""() => Array.from(document.querySelectorAll('.math'))
            .filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80))""")
        assert not untypeset, f"{path}: maths not typeset: {untypeset[:3]}"
        errors = visit.page.evaluate("() => Array.from(document.querySelectorAll('mjx-merror'), e => e.textContent)")
        assert not errors, f"{path}: MathJax errors: {errors[:3]}"
        links = visit.page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")
        broken = [link for link in links if link.startswith(site) and not target_exists(link[len(site):])]
        assert not broken, f"{path}: broken internal links: {broken[:5]}"
        assert not visit.problems, f"{path}:\n" + "\n".join(visit.problems[:10])
    finally:
        visit.page.close()


def target_exists(relative: str) -> bool:
    """Whether a link inside the site leads to a file and, with a #fragment, to an element with that id."""
    parts = urlsplit(relative)
    path = build.HTML / unquote(parts.path)
    if path.is_dir():
        path = path / "index.html"
    if not path.is_file():
        return False
    return not parts.fragment or f'id="{unquote(parts.fragment)}"' in path.read_text(errors="replace")


@pytest.mark.parametrize("path", chapter_pages())
def test_a_chapter_shows_maths_explorers_a_player_and_launch_buttons(path, site, browser):
    visit = Visit(browser, site, path)
    page = visit.page
    stem = Path(path).stem
    try:
        assert page.locator("mjx-container").count() > 0, f"{path}: no typeset maths"
        explorers = page.locator(".td-explorer")
        page.wait_for_function("() => document.querySelectorAll('.td-explorer img.widget-image').length > 0"
                               " && Array.from(document.querySelectorAll('img.widget-image')).every(i => i.complete)",
                               polling=100)
        assert explorers.count() > 0, f"{path}: no explorer drawn"
        for i in range(explorers.count()):
            root = explorers.nth(i)
            root.scroll_into_view_if_needed()
            picture = root.locator("img.widget-image").first.evaluate(PICTURE)
            assert picture["shown"] and picture["colours"] > 1, f"{path}, explorer {i + 1}: picture {picture}"
            assert root.locator(".widget-slider, .widget-dropdown").count() > 0, f"{path}, explorer {i + 1}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        explorers.first.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / f"{stem}.png")

        players = page.locator(".td-precomputed")
        assert players.count() > 0, f"{path}: no precomputed explorer"
        for i in range(players.count()):
            check_the_player_plays(page, players.nth(i), f"{path}, precomputed explorer {i + 1}")
        page.screenshot(path=ARTIFACTS / f"{stem}-precomputed.png")

        hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.getAttribute('href'))")
        binder = f"https://mybinder.org/v2/gh/{SLUG}/main?urlpath=lab/tree/notebooks/{stem}.ipynb"
        colab = f"https://colab.research.google.com/github/{SLUG}/blob/main/notebooks/{stem}.ipynb"
        assert binder in hrefs, f"{path}: no Binder button for its notebook: {[h for h in hrefs if 'binder' in h]}"
        assert colab in hrefs, f"{path}: no Colab button for its notebook: {[h for h in hrefs if 'colab' in h]}"
        assert not visit.problems, f"{path}:\n" + "\n".join(visit.problems[:10])
    finally:
        page.close()
