"""Build the installable Blender extension zip: `python build_addon.py [--out dist]` → dist/smplx_video-<version>.zip.

The zip holds one folder, `<id>/`, with blender_addon's files (blender_manifest.toml + the add-on modules) and a copy
of the repo's `core` package *inside* it, imported relatively as `<addon>.core` (see blender_addon/__init__.py), so
the extension never touches sys.path and cannot clash with another add-on's `core`. Blender 4.2+ finds the manifest
in that folder; the add-on is for 4.2+ only (no legacy `bl_info`), and the single folder keeps an older Blender's
"Install add-on" from scattering the modules into its add-ons folder. core imports with numpy alone;
torch and the other heavy dependencies are not bundled: the conversion runs in a separate Python (preferences).
Install with Blender's "Install from Disk…" (or `blender --command extension install-file …`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON = ROOT / "blender_addon"
CORE = ROOT / "core"
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def _files(folder: Path):
    """Every file under `folder` worth shipping (no caches, no hidden files), sorted for reproducible zips."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not (set(rel.parts) & _SKIP_DIRS) and path.suffix not in _SKIP_SUFFIXES \
                and not any(part.startswith(".") for part in rel.parts):
            yield path, rel


def manifest(addon_dir: Path = ADDON) -> dict:
    """The parsed blender_manifest.toml (id, version, …)."""
    with open(addon_dir / "blender_manifest.toml", "rb") as f:
        return tomllib.load(f)


def build(out_dir: Path | str = ROOT / "dist", addon_dir: Path = ADDON, core_dir: Path = CORE) -> Path:
    """Write `<out_dir>/<id>-<version>.zip` (atomically) and return its path.

    Raises:
        FileNotFoundError: the add-on manifest or the core package is missing.
    """
    for needed in (addon_dir / "blender_manifest.toml", addon_dir / "__init__.py", core_dir / "__init__.py"):
        if not needed.is_file():
            raise FileNotFoundError(f"cannot build the add-on: {needed} is missing")
    info = manifest(addon_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{info['id']}-{info['version']}.zip"
    tmp = target.with_suffix(".zip.tmp")
    top = Path(info["id"])
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, rel in _files(addon_dir):
            if rel.parts[0] == "core":  # a stale bundled copy from an unpacked build: the repo's core wins
                continue
            zf.write(path, (top / rel).as_posix())
        for path, rel in _files(core_dir):
            zf.write(path, (top / "core" / rel).as_posix())
    os.replace(tmp, target)
    return target


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    try:
        print(build(args.out))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
