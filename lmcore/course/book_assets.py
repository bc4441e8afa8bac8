"""Local copies of the JavaScript the built book loads, so that it reads offline.

Out of the box Sphinx loads MathJax, and myst-nb loads RequireJS and the
ipywidgets HTML manager, from CDNs. This module brings pinned versions of the
three npm packages instead: ``npm pack`` downloads each tarball (npm's own cache
makes later builds work offline), its sha512 is checked against the pin below,
and the files a page needs are unpacked into ``<build>/book_assets/vendor``. The
book build adds ``<build>/book_assets`` to Sphinx's static path, so the files end
up in ``_build/html/_static/vendor``; ``_config.yml`` points ``mathjax_path`` and
``nb_ipywidgets_js`` at them. All three are permissively licensed (MathJax:
Apache-2.0, @jupyter-widgets/html-manager: BSD-3-Clause, RequireJS: MIT); MathJax's
LICENSE file and the other two packages' package.json (which names the licence)
are copied with them.

Two ways in:

- as a Sphinx extension (``sphinx: extra_extensions: [lmcore.course.book_assets]`` in
  ``_config.yml``): ``jupyter-book build .`` fetches what is missing before it
  writes a page, so the build needs no extra step;
- ``python -m lmcore.course.book_assets fetch [DEST]`` fetches ahead of time, and
  ``python -m lmcore.course.book_assets check [_build/html]`` lists every script,
  stylesheet or font a built page would load from another host.
"""

import argparse
import base64
import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

VENDOR = "vendor"  # folder under the static path
STAMP = ".npm-integrity"  # written last in each package's folder: what was unpacked there


@dataclass(frozen=True)
class NpmAsset:
    """Files taken from one pinned npm package.

    ``include`` are glob patterns (``*`` crosses folders) on paths inside the package;
    ``strip`` is a leading folder removed from them; they land in ``vendor/<folder>``.
    """

    spec: str  # name@version
    integrity: str  # "sha512-<base64>" of the tarball, as the registry publishes it
    folder: str
    include: tuple[str, ...]
    strip: str = ""


ASSETS = (
    NpmAsset(
        spec="mathjax@3.2.2",
        integrity="sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        folder="mathjax",
        # the combined TeX component, and what it loads on demand: TeX extensions, the CHTML
        # fonts, the menu and its accessibility parts
        include=(
            "LICENSE",
            "es5/tex-mml-chtml.js",
            "es5/input/*",
            "es5/output/chtml.js",
            "es5/output/chtml/*",
            "es5/ui/*",
            "es5/a11y/*",
            "es5/adaptors/*",
            "es5/sre/*",
        ),
        strip="es5/",
    ),
    NpmAsset(
        spec="@jupyter-widgets/html-manager@1.0.15",  # renders ipywidgets 8 state in a static page
        integrity="sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        folder="html-manager",
        # the AMD bundle finds its icon fonts next to itself
        include=(
            "package.json",
            "dist/embed-amd.js",
            *(f"dist/*.{ext}" for ext in ("woff2", "woff", "ttf", "eot", "svg")),
        ),
        strip="dist/",
    ),
    NpmAsset(
        spec="requirejs@2.3.8",
        integrity="sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
        folder="requirejs",
        include=("package.json", "require.js"),
    ),
)


# Loaded between require.js and the HTML manager (see nb_ipywidgets_js in _config.yml).
WIDGETS_SETUP = "widgets-setup.js"
WIDGETS_SETUP_JS = """\
// Written by lmcore.course.book_assets; runs after require.js and before the ipywidgets HTML manager.
(function () {
  // The HTML manager looks for its icon fonts next to its RequireJS module path, which
  // defaults to the page's own folder: point that path at the local copy beside this file.
  var here = new URL(".", document.currentScript.src).href;
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": here + "html-manager" } });
  // ipywidgets typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book loads
  // MathJax 3, so route that call to MathJax 3's typesetPromise once MathJax has started.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup) return;
    mathjax.Hub = {
      Queue: function (job) {
        mathjax.startup.promise.then(function () { return mathjax.typesetPromise([job[2]]); });
      },
    };
  });
})();
"""


class AssetError(RuntimeError):
    """An asset could not be fetched or did not match its pin."""


def sri_sha512(path: Path) -> str:
    """Subresource-integrity string ("sha512-<base64>") of a file, as npm reports tarballs."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def npm_pack(spec: str, dest: Path) -> Path:
    """Download the tarball of ``spec`` into ``dest`` with the npm client; return its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(f"fetching {spec} for the offline book needs npm (Node.js) on PATH")
    result = subprocess.run(
        [npm, "pack", spec, "--json", "--prefer-offline", "--pack-destination", str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssetError(f"npm pack {spec} failed:\n{result.stderr.strip()}")
    filename = json.loads(result.stdout)[0]["filename"]
    return dest / filename


def unpack(asset: NpmAsset, tarball: Path, target: Path) -> int:
    """Write the members of ``tarball`` that ``asset`` includes into ``target``; return a count."""
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            path = PurePosixPath(member.name)
            inner = PurePosixPath(*path.parts[1:])  # drop the tarball's top folder ("package")
            if ".." in inner.parts or not any(fnmatch.fnmatch(str(inner), p) for p in asset.include):
                continue
            relative = str(inner).removeprefix(asset.strip)
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            out.write_bytes(source.read())
            count += 1
    return count


def fetch(asset: NpmAsset, vendor: Path) -> bool:
    """Make ``vendor/<asset.folder>`` hold the asset; return False if it already did."""
    target = vendor / asset.folder
    stamp = target / STAMP
    if stamp.is_file() and stamp.read_text().strip() == f"{asset.spec} {asset.integrity}":
        return False
    with tempfile.TemporaryDirectory() as tmp:
        tarball = npm_pack(asset.spec, Path(tmp))
        actual = sri_sha512(tarball)
        if actual != asset.integrity:
            raise AssetError(f"{asset.spec}: tarball integrity {actual} is not the pinned {asset.integrity}")
        if target.exists():
            shutil.rmtree(target)
        if unpack(asset, tarball, target) == 0:
            raise AssetError(f"{asset.spec}: no file matched {asset.include}")
    stamp.write_text(f"{asset.spec} {asset.integrity}\n")
    return True


def fetch_all(root: Path, log=print) -> Path:
    """Fetch every asset under ``root / VENDOR``; return that folder."""
    vendor = root / VENDOR
    for asset in ASSETS:
        if fetch(asset, vendor):
            log(f"book assets: unpacked {asset.spec} into {vendor / asset.folder}")
    setup_js = vendor / WIDGETS_SETUP
    if not setup_js.is_file() or setup_js.read_text() != WIDGETS_SETUP_JS:
        setup_js.write_text(WIDGETS_SETUP_JS)
    return vendor


# Attributes through which a page makes the browser fetch something. Links to other sites
# (<a href>) are fine offline; loads are not.
_LOADS = re.compile(r"<(script|link|img|iframe)\b[^>]*?\b(src|href)=[\"'](https?:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"(@import\s+|url\()\s*[\"']?(https?:)?//", re.IGNORECASE)


def remote_loads(html_dir: Path) -> list[str]:
    """Every place in a built site where a page would load a resource from another host.

    Looks at script/link/img/iframe tags in the HTML and at url()/@import in CSS files.
    """
    found = []
    for path in sorted(html_dir.rglob("*.html")):
        for match in _LOADS.finditer(path.read_text(errors="replace")):
            line = match.string[match.start() : match.string.find(">", match.start()) + 1]
            found.append(f"{path.relative_to(html_dir)}: {line}")
    for path in sorted(html_dir.rglob("*.css")):
        text = path.read_text(errors="replace")
        found.extend(f"{path.relative_to(html_dir)}: {m.group(0)}" for m in _CSS_URL.finditer(text))
    return found


def local_config_paths(config) -> list[str]:
    """The static paths that ``mathjax_path`` and ``nb_ipywidgets_js`` name (no URLs)."""
    paths = [config.mathjax_path, *getattr(config, "nb_ipywidgets_js", {})]
    return [p for p in paths if p and "://" not in p and not p.startswith("//")]


# -- Sphinx extension ----------------------------------------------------------------------


def _root(app) -> Path:
    return Path(app.outdir).parent / "book_assets"  # _build/book_assets next to _build/html


# The explorers' page code (lmcore/widgets/base.py): ours, not vendored, shipped with the package.
EXPLORERS_STATIC = Path(__file__).resolve().parents[1] / "widgets" / "static"


def _add_static_path(app, config) -> None:
    root = _root(app)
    root.mkdir(parents=True, exist_ok=True)  # filled on builder-inited; Sphinx wants it to exist now
    config.html_static_path.extend([str(root), str(EXPLORERS_STATIC)])


def _fetch_for_html(app) -> None:
    from sphinx.errors import ExtensionError
    from sphinx.util import logging

    if app.builder.format != "html":
        return
    logger = logging.getLogger(__name__)
    root = _root(app)
    try:
        fetch_all(root, log=logger.info)
    except AssetError as err:
        raise ExtensionError(f"offline book assets: {err}") from err
    missing = [p for p in local_config_paths(app.config) if not (root / p).is_file()]
    if missing:
        raise ExtensionError(f"offline book assets: the config names {missing}, which are not under {root}")


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    # Sphinx 7.4 lists an inline script twice when an extension adds it after the builder
    # started (sphinx-thebe, sphinx-togglebutton); the second `const THEBE_JS_URL` is a
    # page error. Keep the first of each identical script (the copies differ only in having
    # None or "" as their file name).
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _default_mode(app, pagename, templatename, context, doctree) -> None:
    # pydata-sphinx-theme reads its color mode from ``default_mode`` in the page context and,
    # when nothing sets it, logs "Got invalid theme mode" as a console error on a reader's
    # first visit. The book is drawn for a light background (figures, explorers).
    context.setdefault("default_mode", "light")


def setup(app):
    app.connect("config-inited", _add_static_path)
    app.add_js_file("explorers.js")
    app.add_css_file("explorers.css")
    app.connect("builder-inited", _fetch_for_html)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _default_mode)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


# -- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lmcore.course.book_assets", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = sub.add_parser("fetch", help="fetch the pinned assets (default into _build/book_assets)")
    fetch_cmd.add_argument("dest", nargs="?", default="_build/book_assets", type=Path)
    check_cmd = sub.add_parser("check", help="list resources a built site loads from other hosts")
    check_cmd.add_argument("html_dir", nargs="?", default="_build/html", type=Path)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        try:
            print(f"book assets in {fetch_all(args.dest)}")
        except AssetError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0
    if not args.html_dir.is_dir():
        print(f"error: {args.html_dir} is not a built site", file=sys.stderr)
        return 1
    loads = remote_loads(args.html_dir)
    for line in loads:
        print(line)
    print(f"{len(loads)} remote load(s) in {args.html_dir}")
    return 1 if loads else 0


if __name__ == "__main__":
    sys.exit(main())
