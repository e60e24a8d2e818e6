"""Do the add-on's conversion requirements (blender_addon/deps.py) resolve to wheels on every Python that Blender
4.2-5.x embeds? Asks pip (PyPI only, this machine's mirrors and caps ignored) for a dry-run install per Python
version for Linux x86-64 with `--only-binary :all:` (no compiler), and sums the wheel sizes pip reports.

    python bench/worker_requirements.py [--pythons 3.11 3.12 3.13 3.14]

Prints one row per Python (resolved versions, number of wheels, download size) and writes
bench/results/worker_requirements.json. Needs network access to PyPI; takes about a minute per Python (pip fetches
only the wheels' metadata). PyPI's Linux torch is the CUDA build; the CPU build that Install dependencies takes on
machines without an NVIDIA GPU comes from PyTorch's own index, which this script does not query.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blender_addon.deps import REQUIREMENTS  # noqa: E402

TAGS = [f"manylinux_2_{m}_x86_64" for m in (17, 24, 27, 28, 31, 34, 35, 36, 39)] + ["manylinux2014_x86_64"]
MAIN = ("torch", "torchvision", "numpy", "scipy", "smplx", "opencv-python-headless", "av", "tqdm")
_SIZE = re.compile(r"Downloading (\S+\.whl) \(([\d.]+) (kB|MB|GB)\)")


def resolve(version: str, workdir: Path) -> dict:
    """pip's dry-run resolution of REQUIREMENTS for CPython `version` on Linux x86-64."""
    report = workdir / f"report-{version}.json"
    cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed",
           "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
           *(a for tag in TAGS for a in ("--platform", tag)), "--target", str(workdir / version),
           "--report", str(report), *REQUIREMENTS]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    if run.returncode != 0:
        tail = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.strip()][-3:]
        return {"python": version, "resolved": False, "error": " | ".join(tail)}
    installs = json.loads(report.read_text())["install"]
    files = {i["download_info"]["url"].rsplit("/", 1)[-1] for i in installs}
    sizes = {}
    for line in (run.stdout + run.stderr).splitlines():
        m = _SIZE.search(line)
        if m and m.group(1) in files:
            sizes[m.group(1)] = float(m.group(2)) * {"kB": 1e-3, "MB": 1.0, "GB": 1e3}[m.group(3)]
    versions = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installs}
    cuda = sum(v for k, v in sizes.items() if k.startswith(("nvidia", "triton")))
    return {"python": version, "resolved": True, "packages": len(installs),
            "all_wheels": all(f.endswith(".whl") for f in files),
            "versions": {name: versions.get(name) for name in MAIN},
            "download_mb": round(sum(sizes.values())), "cuda_libraries_mb": round(cuda),
            "torch_mb": round(sum(v for k, v in sizes.items() if k.startswith("torch-"))),
            "sizes_known": len(sizes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythons", nargs="+", default=["3.11", "3.12", "3.13", "3.14"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smplx-reqs-") as tmp:
        rows = [resolve(v, Path(tmp)) for v in args.pythons]
    print(f"requirements: {' '.join(REQUIREMENTS)}")
    print(f"{'python':<7} {'ok':<4} {'wheels':>6} {'MB':>6} {'CUDA MB':>8}  versions")
    for r in rows:
        if not r["resolved"]:
            print(f"{r['python']:<7} FAIL  {r['error']}")
            continue
        versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        print(f"{r['python']:<7} {'yes' if r['all_wheels'] else 'NO':<4} {r['packages']:>6} {r['download_mb']:>6} "
              f"{r['cuda_libraries_mb']:>8}  {versions}")
    out = ROOT / "bench" / "results" / "worker_requirements.json"
    out.write_text(json.dumps({"requirements": list(REQUIREMENTS), "platform_tags": TAGS, "rows": rows}, indent=2)
                   + "\n")
    print(out)
    return 0 if all(r["resolved"] and r["all_wheels"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
