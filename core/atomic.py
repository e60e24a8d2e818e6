"""Atomic outputs: every file or folder a run writes appears complete or not at all (the project's one helper).

A run stages each output under a hidden temporary name beside its final path (same folder, so the final rename
never copies), writes it, and `commit` renames them all at the end. If anything fails before (an error, Ctrl-C,
SIGTERM, a full disk), every staged temporary is removed and the previous outputs stay byte-identical. Staged files
and folders get the permissions an ordinary `open`/`mkdir` would give: 0o666 / 0o777 minus the process umask
(mkstemp alone would make them 0600 whatever the umask).

numpy-free and torch-free: the Blender add-on, training/ and build scripts use it too.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["AtomicOutputs", "OutputError", "atomic_write", "current_umask", "TEMP_MARK"]

log = logging.getLogger(__name__)

TEMP_MARK = ".tmp"  # every staged name contains it: `.{name}.{random}.tmp{suffix}`
_UMASK_LOCK = threading.Lock()


class OutputError(OSError):
    """An output could not be written (full disk, read-only folder, a folder in the way); the message is one line
    naming the path and what to do."""


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc), else set-and-restore."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _output_error(path: Path, exc: OSError) -> OutputError:
    """One line for the user: which output, what the OS said, what to do."""
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        hint = "free some space or choose another folder"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "choose a folder you can write to"
    else:
        hint = "check the path"
    err = OutputError(f"cannot write {path}: {what}; {hint}")
    err.errno = exc.errno
    return err


class AtomicOutputs:
    """Stages several outputs of one run and commits them together (rename), or removes them all.

    Use as a context manager: a clean exit commits, an exception (including KeyboardInterrupt) discards.

        with AtomicOutputs() as out:
            clip.save(out.path("clip.npz"))           # a temp path to write by name
            out.write("clip.report.json", write_fn, mode="w")
            folder = out.directory("frames")          # a temp folder to fill
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, bool]] = []  # (temp, final, is_dir)
        self._mask = current_umask()

    # ---- staging ------------------------------------------------------------------------------------------------
    def path(self, final: str | os.PathLike) -> Path:
        """A new empty temp file beside `final`, keeping its suffix (writers that pick a format by name work)."""
        final = Path(final)
        self._check_target(final, is_dir=False)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f"{TEMP_MARK}{final.suffix}", dir=final.parent)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~self._mask)
        except OSError as exc:
            raise _output_error(final, exc) from None
        self._staged.append((Path(tmp), final, False))
        return Path(tmp)

    def write(self, final: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
        """Stage `final` and fill it with `write(file)` (flushed and fsynced); returns the temp path."""
        tmp = self.path(final)
        try:
            with open(tmp, mode) as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
        except OutputError:
            raise
        except OSError as exc:
            raise _output_error(Path(final), exc) from None
        return tmp

    def directory(self, final: str | os.PathLike) -> Path:
        """A new empty temp folder beside `final`; at commit it replaces `final` (an old folder is removed)."""
        final = Path(final)
        self._check_target(final, is_dir=True)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=TEMP_MARK, dir=final.parent))
            os.chmod(tmp, 0o777 & ~self._mask)
        except OSError as exc:
            raise _output_error(final, exc) from None
        self._staged.append((tmp, final, True))
        return tmp

    @staticmethod
    def _check_target(final: Path, is_dir: bool) -> None:
        if not is_dir and final.is_dir():
            raise OutputError(f"cannot write {final}: it is a folder; give a file name")
        if is_dir and final.exists() and not final.is_dir():
            raise OutputError(f"cannot write the folder {final}: a file is in the way; remove it or choose another name")

    # ---- ending -------------------------------------------------------------------------------------------------
    def commit(self) -> list[Path]:
        """Renames every staged output onto its final path (folders replace old folders); returns the final paths."""
        done = []
        try:
            for tmp, final, is_dir in self._staged:
                if is_dir:
                    self._replace_dir(tmp, final)
                else:
                    os.replace(tmp, final)
                done.append(final)
        except OSError as exc:
            self.discard()
            raise _output_error(final, exc) from None
        self._staged.clear()
        return done

    def discard(self) -> None:
        """Removes every staged temp file and folder that is still there."""
        for tmp, _, is_dir in self._staged:
            if is_dir:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                try:
                    tmp.unlink()
                except FileNotFoundError:
                    pass
        self._staged.clear()

    @staticmethod
    def _replace_dir(tmp: Path, final: Path) -> None:
        if not final.exists():
            os.replace(tmp, final)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=f".old{TEMP_MARK}", dir=final.parent))
        os.replace(final, old / final.name)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)

    def __enter__(self) -> AtomicOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """One output: `write(file)` on a temp file beside `path`, then rename; no partial file on any error.

    The temp name keeps `path`'s suffix; parent folders are made; permissions follow the umask.
    """
    with AtomicOutputs() as out:
        out.write(path, write, mode)
    return Path(path)
