"""Checks, before a chapter's first ``from utils import ...``, that the name ``utils`` gives the book's library.

The book's library has the import name ``utils``, a common name. A ``utils.py`` or ``utils/`` in the notebook's
folder, or another installed package with a top-level ``utils``, can be found first and hide it; the reader would
then meet a puzzling ``ImportError: cannot import name ... from 'utils'``. Code inside ``utils`` cannot report this,
since it never runs, so this small module, installed beside ``utils`` by the same distribution, does it: every
chapter runs ``import trainable_depth`` just before its first ``from utils import``, and that import raises an
ImportError naming the file in the way and saying what to do.

It imports nothing of the book's: it asks the import system where ``utils`` would come from, and compares that with
the ``utils/__init__.py`` beside this file (the book's, in an editable install and in a regular one alike). In a
regular install it also compares the file with the hash the wheel recorded, which catches another package whose own
``utils/__init__.py`` was installed over the book's into the same ``site-packages/utils/`` folder.
"""

import base64
import hashlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path

DISTRIBUTION = "trainable-depth"
# The book's library: installed beside this module (site-packages/, or the book's folder in an editable install).
BOOK_LIBRARY = Path(__file__).resolve().parent / "utils" / "__init__.py"


def library_problem() -> str | None:
    """Why ``import utils`` would not give the book's library, with what to do about it; None when it would.

    Looks at the module already imported under the name ``utils`` if there is one, else at where the import system
    would find it (nothing is imported).
    """
    imported = sys.modules.get("utils")
    if imported is None:
        spec = importlib.util.find_spec("utils")
        if spec is None:
            return (f"The book's library `utils` is missing ({BOOK_LIBRARY} does not exist): reinstall the book "
                    f"(`make lab` in its folder, or `pip install -e .` there).")
        then = "then run this cell again"
    else:
        spec = getattr(imported, "__spec__", None)
        then = "then restart the kernel (Kernel > Restart Kernel) and run the chapter from the top"
    location = _location(spec) if spec is not None else None
    if location != BOOK_LIBRARY:
        shown = location.parent if location and location.name == "__init__.py" else location or "a module with no file"
        owners = _distributions_installing(location)
        if owners:
            fix = (f"It belongs to the installed package {' and '.join(owners)}, which also ships a top-level `utils`: "
                   f"uninstall it (`pip uninstall {owners[0]}`) or give the book its own virtual environment, {then}.")
        else:
            fix = (f"Rename or move it (a `utils.py` or `utils/` in the notebook's folder, or on PYTHONPATH, is found "
                   f"before installed packages), {then}.")
        return f"`import utils` would load {shown}, not the book's library ({BOOK_LIBRARY.parent}). {fix}"
    if _overwritten():
        owners = _distributions_installing(BOOK_LIBRARY)
        others = f" ({' and '.join(owners)})" if owners else ""
        return (f"{BOOK_LIBRARY} is not the file the book installed: another package that ships a top-level `utils`"
                f"{others} was installed into the same folder and replaced it. Uninstall that package, reinstall the "
                f"book (`pip install --force-reinstall --no-deps` from where you installed it), then restart the "
                f"kernel.")
    return None


def check_library() -> None:
    """Raise ImportError, saying which file hides the book's library and what to do, unless ``utils`` is the book's."""
    problem = library_problem()
    if problem is not None:
        raise ImportError(problem, name="utils")


def _location(spec) -> Path | None:
    """The file a module spec loads (a package's ``__init__.py``), or the folder of a namespace package (a folder
    named like the module, without ``__init__.py``); None for a module without either."""
    if spec.origin is not None and spec.has_location:
        return Path(spec.origin).resolve()
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve()
    return None


def _overwritten() -> bool:
    """Whether the book's ``utils/__init__.py`` differs from what its wheel recorded (False in an editable install,
    whose record lists no library files: its ``utils/`` is the book's own folder)."""
    for distribution in importlib.metadata.distributions(path=[str(BOOK_LIBRARY.parents[1])]):
        if distribution.metadata["Name"] != DISTRIBUTION:
            continue
        for file in distribution.files or []:
            if file.hash is not None and Path(distribution.locate_file(file)).resolve() == BOOK_LIBRARY:
                digest = hashlib.new(file.hash.mode, BOOK_LIBRARY.read_bytes()).digest()
                return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != file.hash.value
    return False


def _distributions_installing(path: Path | None) -> list[str]:
    """The installed distributions, other than the book's, whose record lists ``path`` (sorted names; none for
    None)."""
    owners = set()
    for name in [] if path is None else importlib.metadata.packages_distributions().get("utils", []):
        distribution = importlib.metadata.distribution(name)
        if name != DISTRIBUTION and any(Path(distribution.locate_file(file)).resolve() == path
                                        for file in distribution.files or []):
            owners.add(name)
    return sorted(owners)


check_library()
