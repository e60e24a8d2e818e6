"""Run the conversion (`<python> -m core convert VIDEO -o OUT.npz --progress-json …`) as a subprocess and poll it.

Torch and SMPLer-X live in a separate Python (preferences), never in Blender's. The child prints one JSON object per
line on stdout ({"stage", "done", "total", "message"}) and, on failure, exits non-zero with one error line on stderr.
`ConvertWorker` is plain Python (no bpy, no timers): reader threads queue the child's lines and `poll()` drains
them, so the GUI's timer, the synchronous operator path, batch mode and the tests all drive the same object.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

SMOOTH_PARTS = ("root", "body", "hands", "face", "transl")


@dataclass(frozen=True)
class ConvertJob:
    """Plain options of one conversion (the operator and batch mode fill it from their settings).

    Attributes:
        video: input video file (or folder of frames).
        output: MotionClip .npz to write.
        python: interpreter with torch + the core dependencies.
        core_parent: folder holding the `core` package the child runs (the add-on's bundled copy or the checkout).
        model_dir: SMPL-X / SMPLer-X model directory (None: the child's $SMPLX_VIDEO_MODELS).
        variant: "s32", "b32", "l32" or "h32".
        device: "auto", "cpu", "cuda" or "mps".
        people: "all" or "largest".
        detector: "torchvision", "mmdet" or "static-camera".
        start: first video frame (0-based); end: last frame, inclusive (None: to the end).
        smoothing: {part: Gaussian sigma in seconds} overrides for SMOOTH_PARTS (0 = off).
    """

    video: str
    output: str
    python: str
    core_parent: str
    model_dir: str | None = None
    variant: str = "s32"
    device: str = "auto"
    people: str = "all"
    detector: str = "torchvision"
    start: int = 0
    end: int | None = None
    smoothing: dict = field(default_factory=dict)


def convert_command(job: ConvertJob) -> list:
    """The child's argv for `job` (`--end` of the CLI is exclusive, the job's is inclusive)."""
    cmd = [job.python, "-m", "core", "convert", os.fspath(job.video), "-o", os.fspath(job.output),
           "--progress-json", "--variant", job.variant, "--device", job.device, "--people", job.people,
           "--detector", job.detector, "--start", str(int(job.start))]
    if job.model_dir:
        cmd += ["--model-dir", os.fspath(job.model_dir)]
    if job.end is not None:
        cmd += ["--end", str(int(job.end) + 1)]
    for part, sigma in sorted(job.smoothing.items()):
        if part not in SMOOTH_PARTS:
            raise ValueError(f"unknown smoothing part {part!r}; expected one of {SMOOTH_PARTS}")
        cmd += [f"--smooth-{part}", f"{float(sigma):g}"]
    return cmd


def check_job(job: ConvertJob) -> None:
    """Raise FileNotFoundError / ValueError for a job that cannot start (before any process is spawned)."""
    if not os.path.exists(job.video):
        raise FileNotFoundError(f"video {job.video!r} not found")
    if not job.python or not os.path.isfile(job.python):
        raise FileNotFoundError(
            f"Python for the conversion not found: {job.python!r}. Set it in the add-on preferences (a Python with "
            "torch, e.g. the environment made by 'Install dependencies')")
    if not os.path.isfile(os.path.join(job.core_parent, "core", "__main__.py")):
        raise FileNotFoundError(f"the core package was not found in {job.core_parent!r} (core/__main__.py)")
    if job.variant not in ("s32", "b32", "l32", "h32"):
        raise ValueError(f"model size {job.variant!r}: expected s32, b32, l32 or h32")
    if job.end is not None and int(job.end) < int(job.start):
        raise ValueError(f"frame range {job.start}..{job.end}: the last frame is before the first")


@dataclass(frozen=True)
class Progress:
    """One progress report of the child: `done` of `total` units in `stage`."""

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """done / total in [0, 1] (0 when the total is unknown)."""
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 0.0

    def text(self) -> str:
        """Short status text, e.g. "regress 120/300 (S32 on cuda)"."""
        head = f"{self.stage} {self.done}/{self.total}" if self.total > 0 else self.stage
        return f"{head} ({self.message})" if self.message else head


def parse_progress(line: str) -> Progress | None:
    """A Progress from one stdout line, or None if the line is not a progress object (plain output is ignored)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or "stage" not in obj:
        return None
    try:
        return Progress(str(obj["stage"]), int(obj.get("done", 0)), int(obj.get("total", 0)),
                        str(obj.get("message", "")))
    except (TypeError, ValueError):
        return None


class ConvertWorker:
    """A running child process whose JSON progress lines are collected without blocking.

    States: "running", "done" (exit 0), "failed" (non-zero exit; `error` holds its last stderr line), "cancelled".
    Any command works (preferences also runs `python -m venv` and pip through it); only JSON lines are progress.
    """

    def __init__(self, command: list, env: dict | None = None, cwd: str | None = None):
        self.command = list(command)
        self.state = "running"
        self.error = ""
        self.progress: Progress | None = None
        self.last_output = ""  # last plain (non-JSON) stdout line, e.g. pip's progress
        self._lines: queue.Queue = queue.Queue()
        self._stderr: list = []
        popen_kwargs = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True, bufsize=1, env=env, cwd=cwd,
                                      **popen_kwargs)
        self._threads = [
            threading.Thread(target=self._read, args=(self._proc.stdout, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self._proc.stderr, "err"), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def for_job(cls, job: ConvertJob) -> "ConvertWorker":
        """Start the conversion child for `job` (checked first), with `core` importable from `job.core_parent`."""
        check_job(job)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (job.core_parent, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return cls(convert_command(job), env=env, cwd=job.core_parent)

    def _read(self, stream, kind: str) -> None:
        for line in iter(stream.readline, ""):
            self._lines.put((kind, line))
        stream.close()

    def poll(self) -> list:
        """Drain the queued lines (never blocks); returns the new Progress reports and updates `state`."""
        new = []
        exit_code = self._proc.poll()
        if exit_code is not None:
            for thread in self._threads:  # the child is gone: let the readers reach EOF so no line is lost
                thread.join(timeout=5.0)
        while True:
            try:
                kind, line = self._lines.get_nowait()
            except queue.Empty:
                break
            if kind == "err":
                if line.strip():
                    self._stderr.append(line.strip())
                continue
            report = parse_progress(line)
            if report is not None:
                self.progress = report
                new.append(report)
            elif line.strip():
                self.last_output = line.strip()
        if exit_code is not None and self.state == "running":
            if exit_code == 0:
                self.state = "done"
            else:
                self.state = "failed"
                self.error = self._stderr[-1] if self._stderr else f"conversion exited with code {exit_code}"
        return new

    def cancel(self) -> None:
        """Kill the child (and anything it started); the state becomes "cancelled"."""
        if self._proc.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(self._proc.pid, signal.SIGKILL)
                else:
                    self._proc.kill()
            except ProcessLookupError:
                pass
        self._proc.wait()
        self.state = "cancelled"

    def wait(self, callback=None, interval: float = 0.1, should_cancel=None) -> str:
        """Poll until the child ends (synchronous callers: execute(), batch); returns the final state.

        `callback(progress)` gets each new report; `should_cancel()` returning True kills the child.
        """
        while True:
            for report in self.poll():
                if callback is not None:
                    callback(report)
            if self.state != "running":
                return self.state
            if should_cancel is not None and should_cancel():
                self.cancel()
                return self.state
            time.sleep(interval)



class CommandSequence:
    """Commands run one after another (e.g. create a venv, then pip install), polled like ConvertWorker.

    `fraction` counts finished commands; `status` is the running command's last output line; a failing command
    stops the sequence with its last stderr line in `error`.
    """

    def __init__(self, commands: list):
        if not commands:
            raise ValueError("CommandSequence needs at least one command")
        self._pending = [list(c) for c in commands]
        self._total = len(commands)
        self.state = "running"
        self.error = ""
        self.status = ""
        self._current = self._start_next()

    def _start_next(self) -> ConvertWorker:
        command = self._pending.pop(0)
        self.status = " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(command[:4]))
        return ConvertWorker(command)

    @property
    def fraction(self) -> float:
        """Finished commands / all commands."""
        done = self._total - len(self._pending) - (1 if self.state == "running" else 0)
        return done / self._total

    def poll(self) -> str:
        """Advance without blocking; returns the state ("running", "done", "failed" or "cancelled")."""
        if self.state != "running":
            return self.state
        self._current.poll()
        if self._current.last_output:
            self.status = self._current.last_output[:120]
        if self._current.state == "done" and self._pending:
            self._current = self._start_next()
        elif self._current.state != "running":
            self.state = self._current.state
            self.error = self._current.error
        return self.state

    def cancel(self) -> None:
        """Kill the running command and drop the rest."""
        self._current.cancel()
        self._pending.clear()
        self.state = "cancelled"
