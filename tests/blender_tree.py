"""A real Blender program for the `blender_binary` tests: Debian's `blender` package in a Debian trixie tree.

The tree is made once with `debootstrap --variant=minbase trixie` (about 1 min) and `apt-get install blender …`
(about 2.5 min), cached under the ignored `.cache/blender-trixie`, and reused while its stamp file lists the same
packages. `SMPLX_VIDEO_BLENDER_TREE=/path/to/tree` uses an existing tree instead (missing packages are added to it).
Commands run in it with chroot, each in a private mount namespace where /proc, /sys, /dev, /tmp and the host folders
given to `Tree.sharing(paths)` (the checkout, the conversion's Python) are bind-mounted at the same place inside;
the mounts end with the command, so none is ever left on the host.
Needs root and apt on the host (as CI has); without them `ensure_tree` raises TreeError saying what is missing.

    python tests/blender_tree.py ensure                   # build or check the tree, print its path
    python tests/blender_tree.py run -- blender -b --version
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TREE = ROOT / ".cache" / "blender-trixie"
ENV_VAR = "SMPLX_VIDEO_BLENDER_TREE"
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
# Debian's blender does not depend on numpy, yet its FBX exporter and the add-on import it; Xvfb (+ xauth for
# xvfb-run, Mesa's llvmpipe for OpenGL) runs the GUI tests, and xwd (x11-apps) takes their screenshots: Blender's own
# screen.screenshot reads back a black window from llvmpipe under Xvfb.
PACKAGES = ("blender", "python3-numpy", "xvfb", "xauth", "libgl1-mesa-dri", "x11-apps")
STAMP = ".smplx-video-tree"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class TreeError(RuntimeError):
    """The tree cannot be built or used here (not root, no apt, a failed debootstrap/apt step)."""


def _log(msg: str) -> None:
    print(f"[blender-tree] {msg}", file=sys.stderr, flush=True)


def _run(cmd: list, what: str, quiet: bool = False, **kwargs) -> None:
    """Run a setup command (its time logged unless quiet); TreeError with its last output lines on failure."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise TreeError(f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n{tail}")
    if not quiet:
        _log(f"{what}: {time.perf_counter() - t0:.0f} s")


def mount_points() -> set:
    """Every mount point on this machine (from /proc/self/mountinfo, octal escapes decoded)."""
    points = set()
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            raw = line.split()[4]
            points.add(raw.encode().decode("unicode_escape"))
    return points


class Tree:
    """A Debian tree holding Blender; `run()` executes a command in it.

    Each command runs in a mount namespace of its own (`unshare --mount`): /proc, /sys, /dev and /tmp, and the
    `shared` host folders (read-only), are bind-mounted at the same paths inside, then the command is chrooted.
    Those mounts vanish with the command's processes, even when it is killed, so nothing ever stays mounted on the
    host and the tree can be deleted like any folder.
    """

    def __init__(self, root: Path, shared=()):
        self.root = Path(root).resolve()
        self.shared = [Path(p).resolve() for p in shared]

    def sharing(self, paths) -> "Tree":
        """The same tree with the host folders `paths` visible inside too."""
        return Tree(self.root, [*self.shared, *paths])

    def path(self, inner: str | os.PathLike) -> Path:
        """The host path of `inner`, a path inside the tree."""
        return self.root / str(inner).lstrip("/")

    def missing_packages(self) -> list:
        """Those of PACKAGES that dpkg inside the tree does not list as installed."""
        proc = subprocess.run(["chroot", str(self.root), "dpkg-query", "-W", "-f", "${Package} ${Status}\n",
                               *PACKAGES], capture_output=True, text=True, env={"PATH": CHROOT_PATH})
        installed = {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")}
        return [p for p in PACKAGES if p not in installed]

    def _mounts(self) -> list:
        """Shell commands (run in the private namespace) that mount what the command needs."""
        root = shlex.quote(str(self.root))
        cmds = [f"mount -t proc proc {root}/proc", f"mount --rbind /sys {root}/sys",
                f"mount --rbind /dev {root}/dev", f"mount --bind /tmp {root}/tmp"]
        visible = [Path("/tmp")]
        for folder in self.shared:
            if any(folder == v or v in folder.parents for v in visible) or not folder.is_dir():
                continue  # already visible through an earlier bind (e.g. a checkout under /tmp)
            visible.append(folder)
            self.path(folder).mkdir(parents=True, exist_ok=True)
            inside = shlex.quote(str(self.path(folder)))
            cmds += [f"mount --bind {shlex.quote(str(folder))} {inside}", f"mount -o remount,bind,ro {inside}"]
        return cmds

    def command(self, argv: list, cwd: str = "/") -> list:
        """The host argv that runs `argv` in the tree, in `cwd` (a path inside)."""
        enter = 'cd "$0" && exec "$@"'
        chroot = shlex.join(["chroot", str(self.root), "/bin/sh", "-c", enter, str(cwd), *map(str, argv)])
        script = " && ".join([*self._mounts(), f"exec {chroot}"])
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script]

    def run(self, argv: list, env: dict | None = None, cwd: str = "/", timeout: float | None = None,
            **kwargs) -> subprocess.CompletedProcess:
        """Run `argv` in the tree with a clean environment plus `env`; output captured as text unless told not."""
        full_env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "TMPDIR": "/tmp", **(env or {})}
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.command(argv, cwd), env=full_env, timeout=timeout, **kwargs)


def apt_get(tree: Tree, *args: str) -> None:
    """`apt-get ARGS` inside the tree (the host's DNS settings copied in first); TreeError when it fails."""
    if os.path.exists("/etc/resolv.conf"):
        shutil.copyfile("/etc/resolv.conf", tree.path("/etc/resolv.conf"))
    t0 = time.perf_counter()
    proc = tree.run(["apt-get", "-y", "-qq", *args], env={"DEBIAN_FRONTEND": "noninteractive"})
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise TreeError(f"apt-get {' '.join(args)} in {tree.root} failed (exit {proc.returncode}):\n{tail}")
    _log(f"apt-get {' '.join(args)} (tree): {time.perf_counter() - t0:.0f} s")


def _apt_install(tree: Tree, packages: list) -> None:
    apt_get(tree, "update")
    apt_get(tree, "install", "--no-install-recommends", *packages)
    apt_get(tree, "clean")


def pip_environment(tree: Tree) -> dict:
    """The host's pip settings that a pip inside the tree needs too: the CA bundle named by $PIP_CERT (a network
    whose TLS is re-signed by a local authority), copied into the tree where Debian's ca-certificates package does
    not rewrite it."""
    cert = os.environ.get("PIP_CERT", "")
    if not cert or not os.path.isfile(cert):
        return {}
    inside = "/opt/smplx-video-tests/pip-cert.pem"
    tree.path(inside).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cert, tree.path(inside))
    return {"PIP_CERT": inside}


def _debootstrap(target: Path) -> None:
    """A fresh minbase trixie tree at `target` (installs debootstrap on the host first when missing)."""
    if shutil.which("debootstrap") is None:
        if shutil.which("apt-get") is None:
            raise TreeError("debootstrap is missing and there is no apt-get to install it")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-qq"], "apt-get update (host)", env=env)
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
             "apt-get install debootstrap (host)", env=env)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        inside = [m for m in mount_points() if m.startswith(str(partial) + "/")]
        if inside:
            raise TreeError(f"{partial} has mounts ({', '.join(sorted(inside))}): unmount them, then delete it")
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _run(["debootstrap", "--variant=minbase", SUITE, str(partial), MIRROR], f"debootstrap {SUITE}")
    partial.rename(target)


def _link_mtab(tree: Tree) -> None:
    """/etc/mtab → /proc/self/mounts, as Debian's base-files would: Blender lists the mounted file systems at start-up
    and complains without it; minbase does not make it."""
    mtab = tree.path("/etc/mtab")
    if not mtab.exists() and not mtab.is_symlink():
        mtab.symlink_to("/proc/self/mounts")


def ensure_tree(path: str | os.PathLike | None = None) -> Tree:
    """The tree with Blender and PACKAGES, built or completed when needed.

    Args:
        path: the tree folder; default $SMPLX_VIDEO_BLENDER_TREE, else .cache/blender-trixie in the checkout.

    Raises:
        TreeError: not root, or a debootstrap / apt step failed (its last output lines are in the message).
    """
    path = Path(path or os.environ.get(ENV_VAR) or DEFAULT_TREE)
    stamp = path / STAMP
    if stamp.is_file() and stamp.read_text().split() == list(PACKAGES):
        _link_mtab(Tree(path))
        return Tree(path)
    if os.geteuid() != 0:
        raise TreeError(f"building the Blender tree at {path} needs root (chroot, mount, debootstrap); or set "
                        f"{ENV_VAR} to a prepared tree")
    if not (path / "usr" / "bin").is_dir():
        _debootstrap(path)
    tree = Tree(path)
    _link_mtab(tree)
    missing = tree.missing_packages()
    if missing:
        _apt_install(tree, missing)
    still = tree.missing_packages()
    if still:
        raise TreeError(f"packages still missing in {path} after apt-get install: {', '.join(still)}")
    stamp.write_text("\n".join(PACKAGES) + "\n")
    return tree


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ensure", help="build or check the tree and print its path")
    run = sub.add_parser("run", help="run a command in the tree (the checkout mounted)")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        t0 = time.perf_counter()
        tree = ensure_tree()
        _log(f"tree ready at {tree.root} ({time.perf_counter() - t0:.0f} s)")
    except TreeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.cmd == "ensure":
        print(tree.root)
        return 0
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    return tree.sharing([ROOT]).run(command, cwd=str(ROOT), capture_output=False).returncode


if __name__ == "__main__":
    sys.exit(main())
