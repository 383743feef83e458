"""Local copies of what a page written by ``jupyter nbconvert --to html`` loads from CDNs, for a browser
test on a machine whose only way out is npm (tests/test_browser_nbconvert.py).

Such a page loads require.js, then the widget HTML manager (``@jupyter-widgets/html-manager``, the
version range nbconvert asks for), which loads each widget's frontend module (``anywidget``, the
version of the installed Python anywidget) with require.js. ``fetch()`` gets those three npm packages
with ``npm pack`` (the tarball only, no dependencies: each file served is self-contained) into
``.cache/nbconvert-cdn/`` (ignored by git); ``local_file(url)`` says which cached file answers a URL,
read from its path only (``/<package>@<version>/<file>``, ``.../require.js/<version>/require.min.js``)
so that no host name is written here. ``python tests/widget_cdn.py`` fetches them (``make test`` does).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "nbconvert-cdn"
MANIFEST = CACHE / "packages.json"
_NPM_PATH = re.compile(r"/((?:@[^/@]+/)?[^/@]+)@[^/]+/(.+)$")  # /name@version/file, /@scope/name@version/file


class CdnCacheError(RuntimeError):
    """The packages could not be fetched: says what failed and how to fetch them."""


def wanted() -> dict[str, str]:
    """{npm package: version or range} as the page asks for them, from the installed nbconvert and anywidget."""
    import anywidget
    from nbconvert.exporters import HTMLExporter

    exporter = HTMLExporter()
    requirejs = re.search(r"require\.js/([^/]+)/", exporter.require_js_url)
    if requirejs is None:
        raise CdnCacheError(f"cannot read require.js's version from nbconvert's {exporter.require_js_url}")
    return {
        "requirejs": requirejs.group(1),
        "@jupyter-widgets/html-manager": exporter.html_manager_semver_range,
        "anywidget": anywidget.__version__,
    }


def cached() -> dict[str, dict[str, str]] | None:
    """{package: {"asked": ..., "version": ...}} when the cache holds what ``wanted()`` asks for, else None."""
    try:
        packages = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    asked = {name: entry.get("asked") for name, entry in packages.items()}
    return packages if asked == wanted() else None


def fetch() -> dict[str, dict[str, str]]:
    """Fetch the packages (unless cached) with npm; CdnCacheError, saying why, when that fails."""
    packages = cached()
    if packages is not None:
        return packages
    npm = shutil.which("npm")
    specs = {name: f"{name}@{version}" for name, version in wanted().items()}
    hint = (f"the nbconvert page test needs the npm packages {', '.join(specs.values())}: install npm and run "
            "`python tests/widget_cdn.py` (`make test` does) where npm can reach its registry")
    if npm is None:
        raise CdnCacheError(f"npm is not installed; {hint}")
    with tempfile.TemporaryDirectory() as scratch:
        try:
            done = subprocess.run([npm, "pack", "--json", "--pack-destination", scratch, *specs.values()],
                                  capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise CdnCacheError(f"npm pack did not finish in 300 s; {hint}") from None
        if done.returncode != 0:
            said = [line for line in done.stderr.splitlines() if line.strip() and " at " not in line][:4]
            raise CdnCacheError(f"npm pack failed ({' / '.join(said)}); {hint}")
        packed = json.loads(done.stdout)
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.mkdir(parents=True)
        packages = {}
        for entry in packed:
            with tarfile.open(Path(scratch) / entry["filename"]) as archive:
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12
                archive.extractall(Path(scratch) / "unpacked" / entry["name"], **safe)
            shutil.move(Path(scratch) / "unpacked" / entry["name"] / "package", CACHE / entry["name"])
            packages[entry["name"]] = {"asked": wanted()[entry["name"]], "version": entry["version"]}
    MANIFEST.write_text(json.dumps(packages, indent=1) + "\n")
    return packages


def local_file(url: str) -> Path | None:
    """The cached file that stands for ``url``, or None."""
    path = unquote(urlparse(url).path)
    if path.endswith(("/require.min.js", "/require.js")) and "require.js/" in path:
        return CACHE / "requirejs" / "require.js"
    match = _NPM_PATH.search(path)
    if match is None:
        return None
    name, file = match.groups()
    local = (CACHE / name / file).resolve()
    inside = local.is_relative_to((CACHE / name).resolve())
    return local if inside and local.is_file() else None


if __name__ == "__main__":
    try:
        fetched = fetch()
    except CdnCacheError as error:
        sys.exit(f"widget_cdn: {error}")
    print("nbconvert page test: " + ", ".join(f"{n}@{e['version']}" for n, e in fetched.items()) + f" in {CACHE}")
