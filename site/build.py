"""Build the book's website (`make site`) from the stored, executed notebooks; nothing is re-executed.

1. The JavaScript the pages need is fetched from the npm registry at pinned versions (checked against
   their recorded integrity, kept in build/site/npm/ so later builds need no network), and copied into
   the site's own static files: the widget manager that draws stored widget state, RequireJS that it
   loads with, and MathJax. The pages load nothing from a CDN.
2. The sources are staged in build/site/src/ at their repository paths (README.md, the chapter
   notebooks less the figure records that only the tests read, figures/, docs/*.md when present), so
   every relative link means on the site what it means on GitHub, and each page's launch buttons open
   that same path on Binder or Colab.
3. Sphinx (myst-nb, sphinx-book-theme; configuration in site/conf.py) builds build/site/html/ with
   warnings as errors.

Run: python site/build.py   (prints the build time and the site's size)
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from utils.figure_records import FIGURE_MIMETYPE

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
BUILD = ROOT / "build" / "site"
NPM_CACHE, SOURCES, ASSETS, HTML = BUILD / "npm", BUILD / "src", BUILD / "assets", BUILD / "html"

# name -> (version, the registry's sha512 integrity of the tarball)
NPM_PACKAGES = {
    "@jupyter-widgets/html-manager": (
        "1.0.15", "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="),
    "requirejs": (
        "2.3.8", "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw=="),
    "mathjax": (
        "3.2.2", "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="),
}
# What of each package the site serves (paths inside the tarball, under package/) and where (under _static/).
SERVED = {
    # The widget manager; of Font Awesome's fonts only the woff2/woff files that browsers load.
    "@jupyter-widgets/html-manager": ("dist/", "widgets/", lambda name: name == "embed-amd.js"
                                      or name.endswith((".woff2", ".woff"))),
    "requirejs": ("require.js", "widgets/require.js", None),
    # MathJax: TeX input to CommonHTML, its TeX extensions, fonts, menu; no speech rule maps (15 MB).
    "mathjax": ("es5/", "mathjax/", lambda name: name == "tex-chtml.js" or name.startswith(
        ("input/tex/extensions/", "output/chtml/fonts/woff-v2/", "ui/", "a11y/")) and name != "a11y/sre.js"),
}
CHAPTERS = "notebooks/[0-9][0-9]_*.ipynb"


def tarball(name: str) -> Path:
    """The package's tarball, from the cache or fetched with `npm pack`; its integrity is checked."""
    version, integrity = NPM_PACKAGES[name]
    path = NPM_CACHE / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not path.exists():
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", str(NPM_CACHE)],
                       check=True, stdout=subprocess.DEVNULL)
    digest = "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    if digest != integrity:
        path.unlink()
        raise RuntimeError(f"{name}@{version}: integrity {digest} is not the recorded {integrity}")
    return path


def copy_assets() -> None:
    """Unpack what the pages load into build/site/assets/ (served as _static/)."""
    shutil.rmtree(ASSETS, ignore_errors=True)
    for name, (inside, target, keep) in SERVED.items():
        prefix = "package/" + inside
        with tarfile.open(tarball(name)) as archive:
            for member in archive.getmembers():
                if not member.isfile() or not member.name.startswith(prefix):
                    continue
                rest = member.name[len(prefix):]
                if inside.endswith("/") and keep is not None and not keep(rest):
                    continue
                destination = ASSETS / (target + rest if inside.endswith("/") else target)
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(archive.extractfile(member).read())


def without_figure_records(notebook: dict) -> dict:
    """``notebook`` (nbformat JSON) without the figure records stored beside each figure's PNG for the
    tests (utils/figure_records.py): myst-nb would warn about their unknown type on every figure."""
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(FIGURE_MIMETYPE, None)
    return notebook


def stage_sources() -> None:
    """Copy the pages' sources to build/site/src/ at their repository paths."""
    shutil.rmtree(SOURCES, ignore_errors=True)
    files = [ROOT / "README.md", *sorted(ROOT.glob(CHAPTERS)), *sorted(ROOT.glob("figures/*.png")),
             *sorted(ROOT.glob("figures/*.svg")), *sorted(ROOT.glob("docs/*.md"))]
    for path in files:
        destination = SOURCES / path.relative_to(ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".ipynb":
            destination.write_text(json.dumps(without_figure_records(json.loads(path.read_text())), indent=1))
        else:
            shutil.copy2(path, destination)
    index = (SITE / "index.md").read_text()
    guides = sorted(path.relative_to(ROOT).with_suffix("").as_posix() for path in ROOT.glob("docs/*.md"))
    if guides:  # the teacher's guide, a glossary: whatever docs/ holds, when it holds anything
        index += "\n```{toctree}\n:caption: For teachers and readers\n:hidden:\n\n" + "\n".join(guides) + "\n```\n"
    (SOURCES / "index.md").write_text(index)


def build() -> float:
    """Build the site; returns the seconds it took."""
    start = time.perf_counter()
    copy_assets()
    stage_sources()
    shutil.rmtree(HTML, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-c", str(SITE),
                    "-d", str(BUILD / "doctrees"), str(SOURCES), str(HTML)], check=True)
    return time.perf_counter() - start


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


if __name__ == "__main__":
    seconds = build()
    print(json.dumps({"site": str(HTML.relative_to(ROOT)), "build_s": round(seconds, 1),
                      "size_mb": round(size_mb(HTML), 1)}))
