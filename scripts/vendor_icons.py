#!/usr/bin/env python3
"""Copy the icons of the badges and pages from the pinned Lucide package into the service, as Python data.

    python scripts/vendor_icons.py           # write service/kudos_service/icons/_lucide.py
    python scripts/vendor_icons.py --check   # exit 1 when that file is not what the pinned package gives

The package is ``lucide-static``, pinned in ``scripts/icons/package.json`` and ``package-lock.json`` as a
development dependency of this script alone: the service never loads anything at run time, and nothing of the
icons is in ``contracts/package.json``, which pins what the contracts are built and tested with. Where
``scripts/icons/node_modules`` does not hold the locked version, the script runs ``npm ci`` there first.

Which icons: those named in ``service/kudos_service/icons/_emoji.py`` (the emoji map, its fallback, the pages'
own), read as a file so this script works before the module it writes exists. Each icon is taken from the
package's ``icon-nodes.json`` (element name and attributes, the inside of a 24 by 24 SVG), and refused unless every
element and attribute is on the allow-list below, with values that are numbers, path data or ``currentColor``: a
badge is a picture that wallets and marketplaces show, so it may carry no script, link, style or reference.
The licence of the package goes into the written module, which ships with the service.

Exit status: 0 when written (or, with --check, up to date); 1 when --check finds a difference; 2 when the
package cannot be installed or an icon is missing or refused.
"""

from __future__ import annotations

import argparse
import json
import re
import runpy
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "scripts" / "icons"
PACKAGE = "lucide-static"
CHOICE = ROOT / "service" / "kudos_service" / "icons" / "_emoji.py"
OUTPUT = ROOT / "service" / "kudos_service" / "icons" / "_lucide.py"

_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_PATH_DATA = re.compile(r"[MmLlHhVvCcSsQqTtAaZz0-9., -]+")
_POINTS = re.compile(r"[0-9., -]+")
_PAINT = re.compile(r"none|currentColor")

#: The elements an icon may have, each with the attributes it may carry and the form of their values.
ALLOWED: dict[str, dict[str, re.Pattern[str]]] = {
    "path": {"d": _PATH_DATA, "fill": _PAINT},
    "circle": {"cx": _NUMBER, "cy": _NUMBER, "r": _NUMBER, "fill": _PAINT},
    "ellipse": {"cx": _NUMBER, "cy": _NUMBER, "rx": _NUMBER, "ry": _NUMBER, "fill": _PAINT},
    "rect": {
        "x": _NUMBER,
        "y": _NUMBER,
        "width": _NUMBER,
        "height": _NUMBER,
        "rx": _NUMBER,
        "ry": _NUMBER,
        "fill": _PAINT,
    },
    "line": {"x1": _NUMBER, "y1": _NUMBER, "x2": _NUMBER, "y2": _NUMBER},
    "polyline": {"points": _POINTS},
    "polygon": {"points": _POINTS, "fill": _PAINT},
}


class IconError(Exception):
    """An icon that is not in the package, or that holds something a badge may not carry."""


@dataclass(frozen=True)
class Package:
    """What the script reads from the installed, locked ``lucide-static``."""

    version: str
    integrity: str
    license: str
    nodes: dict[str, list[tuple[str, dict[str, str]]]]


def wanted_icons(choice: Path = CHOICE) -> list[str]:
    """The names of the icons the service draws, sorted: the emoji map's, the fallback and the pages' own."""
    names = runpy.run_path(str(choice))
    return sorted({*names["EMOJI_ICONS"].values(), names["FALLBACK_ICON"], *names["PAGE_ICONS"]})


def locked(package_dir: Path = PACKAGE_DIR) -> tuple[str, str]:
    """The version and the integrity hash of the package as ``package-lock.json`` pins them."""
    lock = json.loads((package_dir / "package-lock.json").read_text())
    entry = lock["packages"][f"node_modules/{PACKAGE}"]
    return entry["version"], entry["integrity"]


def install(package_dir: Path = PACKAGE_DIR) -> Path:
    """The installed package's folder, after ``npm ci`` where it does not hold the locked version."""
    folder = package_dir / "node_modules" / PACKAGE
    version, _ = locked(package_dir)
    manifest = folder / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
        command = ["npm", "ci", "--prefix", str(package_dir), "--ignore-scripts", "--no-audit", "--no-fund"]
        subprocess.run(command, check=True)
    return folder


def read_package(folder: Path, package_dir: Path = PACKAGE_DIR) -> Package:
    """The installed package's version, licence and icon nodes, checked against the lock's version."""
    version, integrity = locked(package_dir)
    installed = json.loads((folder / "package.json").read_text())["version"]
    if installed != version:
        raise IconError(f"{folder} holds {PACKAGE} {installed}, the lock pins {version}: run npm ci")
    nodes = json.loads((folder / "icon-nodes.json").read_text())
    return Package(version, integrity, (folder / "LICENSE").read_text(), nodes)


def element(tag: str, attributes: dict[str, str], icon: str) -> str:
    """One SVG element as markup, or :class:`IconError` when it is not on the allow-list."""
    allowed = ALLOWED.get(tag)
    if allowed is None:
        raise IconError(f"icon {icon!r}: element <{tag}> is not allowed")
    for name, value in attributes.items():
        form = allowed.get(name)
        if form is None or not form.fullmatch(value):
            raise IconError(f"icon {icon!r}: <{tag} {name}={value!r}> is not allowed")
    text = " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items())
    return f"<{tag} {text}/>"


def render(package: Package, names: Iterable[str]) -> str:
    """The Python module that holds the icons ``names`` of ``package``, with the package's licence."""
    entries = []
    for name in names:
        if name not in package.nodes:
            raise IconError(f"{PACKAGE} {package.version} has no icon {name!r}")
        elements = "".join(f"        {element(tag, a, name)!r},\n" for tag, a in package.nodes[name])
        entries.append(f'    "{name}": (\n{elements}    ),\n')
    licence = "\n".join(f"    {line}".rstrip() for line in package.license.strip().splitlines())
    return (
        f'"""Icons of Lucide (lucide.dev), copied from the npm package {PACKAGE} {package.version} by\n'
        "``scripts/vendor_icons.py``: do not edit, run the script.\n"
        "\n"
        "Each icon is the inside of a 24 by 24 SVG, drawn with strokes of width 2 in ``currentColor`` (round caps\n"
        "and joins); :mod:`kudos_service.icons` wraps it. The package's licence, which these copies carry:\n"
        "\n"
        f"{licence}\n"
        '"""\n'
        "\n"
        "# ruff: noqa: E501\n"
        "\n"
        "from __future__ import annotations\n"
        "\n"
        f'PACKAGE = "{PACKAGE}"\n'
        f'VERSION = "{package.version}"\n'
        f'INTEGRITY = "{package.integrity}"\n'
        "\n"
        "#: Each icon's SVG elements, by Lucide's name.\n"
        "ICONS: dict[str, tuple[str, ...]] = {\n"
        f"{''.join(entries)}"
        "}\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare: exit 1 when the module is stale")
    args = parser.parse_args(argv)
    try:
        text = render(read_package(install()), wanted_icons())
    except (IconError, subprocess.CalledProcessError, OSError) as exc:
        print(f"vendor_icons: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"vendor_icons: {OUTPUT.relative_to(ROOT)} is stale: run python scripts/vendor_icons.py")
            return 1
        print(f"vendor_icons: {OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    OUTPUT.write_text(text)
    print(f"vendor_icons: wrote {OUTPUT.relative_to(ROOT)} ({len(text)} bytes) from {PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
