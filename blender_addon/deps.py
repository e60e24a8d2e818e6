"""The conversion's own Python environment: what it needs, how "Install dependencies" makes it, and how an existing
interpreter is checked. Plain Python (no bpy), so the tests and batch.py use it as the operators do.

The requirements are ranges, not pins: Blender 4.2 to 5.x embed Python 3.11 to 3.14 (blender.org builds and Linux
distributions differ), and exact pins that have wheels on one of them (numpy 1.26 on 3.11) have none on another
(3.13, 3.14), where pip would try to compile. Each range's lower bound is the oldest release the project works
with; pip picks the newest release with a wheel for the Python at hand (`--only-binary :all:`: never a compiler).
The development environment's exact pins live in constraints-dev.txt at the repository root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# Conversion dependencies (torch and torchvision first: they are installed in a step of their own so that a CPU-only
# machine takes them from PyTorch's CPU index; the rest come from PyPI).
TORCH_REQUIREMENTS = ("torch>=2.5", "torchvision>=0.20")
OTHER_REQUIREMENTS = ("numpy>=1.26", "scipy>=1.11", "smplx>=0.1.28", "opencv-python-headless>=4.10", "av>=12",
                      "tqdm>=4.66")
REQUIREMENTS = TORCH_REQUIREMENTS + OTHER_REQUIREMENTS
IMPORT_NAMES = ("torch", "torchvision", "numpy", "scipy", "smplx", "cv2", "av", "tqdm")
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

# Download sizes for Linux x86-64 (bench/worker_requirements.py: 4.3 GB from PyPI, 3.2 GB of it CUDA libraries;
# the CPU build adds PyTorch's ~0.2 GB torch wheel to the 0.18 GB of the rest). PyPI's torch for Linux is the
# CUDA build and pulls the nvidia-* wheels; the CPU index's torch is a tenth of that.
DOWNLOAD_MB = {"cpu": 400, "cuda": 4300, "macos": 260}

_CHECK_SCRIPT = ("import importlib, json, sys; out = {'python': sys.version.split()[0]}\n"
                 "for name in %r:\n"
                 "    try:\n"
                 "        out[name] = getattr(importlib.import_module(name), '__version__', 'ok')\n"
                 "    except Exception as exc:\n"
                 "        out[name] = None\n"
                 "try:\n"
                 "    import torch; out['cuda'] = bool(torch.cuda.is_available())\n"
                 "except Exception:\n"
                 "    out['cuda'] = False\n"
                 "print(json.dumps(out))") % (IMPORT_NAMES,)


def has_nvidia_gpu() -> bool:
    """An NVIDIA driver is present (then PyPI's CUDA torch is worth its size)."""
    return shutil.which("nvidia-smi") is not None or os.path.exists("/proc/driver/nvidia/version")


def torch_flavour(cuda: bool | None = None) -> str:
    """"macos" (PyPI's torch is the CPU/MPS build), "cuda" (an NVIDIA GPU) or "cpu" (PyTorch's CPU index)."""
    if sys.platform == "darwin":
        return "macos"
    return "cuda" if (has_nvidia_gpu() if cuda is None else cuda) else "cpu"


def download_text(flavour: str) -> str:
    """What the user is told before installing, e.g. "about 400 MB (CPU build of torch, …)"."""
    what = {"cpu": "CPU build of torch, no NVIDIA GPU found", "cuda": "torch with CUDA for the NVIDIA GPU",
            "macos": "torch for Apple Silicon / CPU"}[flavour]
    size = DOWNLOAD_MB[flavour]
    return f"about {size / 1000:.1f} GB ({what})" if size >= 1000 else f"about {size} MB ({what})"


def venv_python(env_dir: str) -> str:
    """The interpreter inside a virtual environment folder."""
    if os.name == "nt":
        return os.path.join(env_dir, "Scripts", "python.exe")
    return os.path.join(env_dir, "bin", "python")


def base_python() -> str:
    """Blender's own Python interpreter (sys.executable; very old Blenders pointed it at the blender binary)."""
    exe = sys.executable
    if os.path.basename(exe).lower().startswith("blender"):
        found = shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}")
        if found:
            return found
    return exe


def venv_problem(python: str) -> str:
    """Why `python -m venv` would fail (Debian/Ubuntu strip ensurepip from the system Python), or "" if it works."""
    if os.path.basename(python).lower().startswith("blender"):
        return ("Blender's Python interpreter was not found (sys.executable is the blender program): tick 'Use an "
                "existing Python' and choose one that has the dependencies")
    try:
        probe = subprocess.run([python, "-c", "import ensurepip, venv"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"cannot run Blender's Python {python!r}: {exc}"
    if probe.returncode == 0:
        return ""
    return (f"Blender's Python ({python}) cannot create environments: it has no 'ensurepip' module (Debian and "
            f"Ubuntu ship it separately: apt install python{sys.version_info[0]}.{sys.version_info[1]}-venv). "
            "Or tick 'Use an existing Python' and choose an interpreter that has the dependencies")


# Share of the whole install each of install_commands' steps takes (venv, pip upgrade, torch, the rest)
STEP_WEIGHTS = (0.03, 0.03, 0.64, 0.3)


def install_commands(env_dir: str, python: str | None = None, flavour: str | None = None) -> list:
    """The commands that create the environment and install REQUIREMENTS into it, run one after another.

    torch comes from PyTorch's CPU index on machines without an NVIDIA GPU (Linux/Windows), else from PyPI.
    """
    python = python or base_python()
    flavour = flavour or torch_flavour()
    env_python = venv_python(env_dir)
    pip = [env_python, "-m", "pip", "install", "--progress-bar", "off", "--only-binary", ":all:"]
    torch_index = ["--index-url", CPU_TORCH_INDEX] if flavour == "cpu" else []
    return [
        [python, "-m", "venv", env_dir],
        [env_python, "-m", "pip", "install", "--upgrade", "pip"],
        [*pip, *torch_index, *TORCH_REQUIREMENTS],
        [*pip, *OTHER_REQUIREMENTS],
    ]


def check_python(python: str, timeout: float = 120.0) -> tuple[bool, str]:
    """Does `python` have every conversion dependency? (ok, one status line), e.g.
    (True, "Python 3.11.7: torch 2.14.1 (CPU), numpy 1.26.4 …") or (False, "missing: av, smplx")."""
    import json

    if not python or not os.path.isfile(python):
        return False, f"no Python at {python!r}" if python else "no Python chosen"
    try:
        run = subprocess.run([python, "-c", _CHECK_SCRIPT], capture_output=True, text=True, timeout=timeout)
        found = json.loads(run.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return False, f"{python} does not run as a Python ({type(exc).__name__})"
    missing = [name for name in IMPORT_NAMES if not found.get(name)]
    if missing:
        return False, (f"Python {found['python']} lacks {', '.join(missing)}: install them, or use "
                       "'Install dependencies'")
    device = "CUDA" if found.get("cuda") else "CPU"
    return True, (f"Python {found['python']}: torch {found['torch']} ({device}), numpy {found['numpy']}, "
                  f"opencv {found['cv2']}, av {found['av']}")
