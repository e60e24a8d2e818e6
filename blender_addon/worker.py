"""Run the conversion (`<python> -m core convert VIDEO -o OUT.npz --progress-json …`) as a subprocess and poll it.

Torch and SMPLer-X live in a separate Python (preferences), never in Blender's. The child prints one JSON object per
line on stdout ({"stage", "done", "total", "message"}) and, on failure, exits non-zero with one error line on stderr.
`ConvertWorker` is plain Python (no bpy, no timers): reader threads queue the child's lines and `poll()` drains
them, so the GUI's timer, the synchronous operator path, batch mode and the tests all drive the same object.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from . import core

# Where each stage of one video import lies on the overall 0-100 % bar (fractions of the whole; "import" is the
# Blender side). Loading comes first and is short; detection and regression are the long ones.
# "track" is sparse detection's single pass (detector on keyframes, poses every frame): it spans both long stages.
STAGE_SPANS = {"load": (0.0, 0.08), "detect": (0.08, 0.45), "regress": (0.45, 0.90), "track": (0.08, 0.90),
               "smooth": (0.90, 0.92), "ground": (0.92, 0.94), "import": (0.94, 1.0)}
STAGE_NAMES = {"load": "Loading the network", "detect": "Detecting people", "regress": "Estimating poses",
               "track": "Following people, estimating poses", "smooth": "Smoothing", "ground": "Finding the floor",
               "import": "Building the rigs"}

# pip's output lines that mark how far an install got
_PIP_PHASES = (("Collecting ", 0.1), ("Downloading ", 0.3), ("Installing collected packages", 0.8),
               ("Successfully installed", 1.0))

# pip lines that never say what went wrong (pip prints them around every failure)
_NOISE = ("hint:", "note:", "[notice]", "╰─>", "│", "see above", "subprocess-exited-with-error",
          "metadata-generation-failed", "this error originates from a subprocess", "encountered error while",
          "did not run successfully", "exit code:")


def convert_command(python: str, video: str, output: str, options) -> list:
    """The child's argv: `<python> -m core convert VIDEO -o OUTPUT --progress-json` + the options' flags.

    Paths are made absolute: the child runs in core's folder, not in the caller's working directory.
    """
    options_module = importlib.import_module(f"{core.__name__}.options")
    paths = {o.name: os.path.abspath(getattr(options, o.name)) for o in options_module.OPTIONS
             if o.kind == "path" and getattr(options, o.name, None)}
    return [python, "-m", "core", "convert", os.path.abspath(video), "-o", os.path.abspath(output),
            "--progress-json", *options_module.to_argv(options.replace(**paths))]


def check_start(python: str, core_parent: str, video: str) -> None:
    """Raise FileNotFoundError for a conversion that cannot start (before any process is spawned)."""
    if not os.path.exists(video):
        raise FileNotFoundError(f"video {video!r} not found")
    if not python or not os.path.isfile(python):
        raise FileNotFoundError(
            f"Python for the conversion not found: {python!r}. In the add-on preferences press 'Install "
            "dependencies', or tick 'Use an existing Python' and choose one that has torch")
    if not os.path.isfile(os.path.join(core_parent, "core", "__main__.py")):
        raise FileNotFoundError(f"the core package was not found in {core_parent!r} (core/__main__.py)")


def meaningful_lines(lines: list, n: int = 3) -> list:
    """The last `n` lines that say what failed: error lines first, else the last lines that are not pip's
    boilerplate ("hint: See above for details", "note: This error originates…")."""
    def useful(line: str) -> bool:
        low = line.strip().lower().lstrip("×").strip()
        return bool(low) and not any(low.startswith(x) or x in low for x in _NOISE)

    kept = [ln.strip() for ln in lines if useful(ln)]
    errors = [ln for ln in kept if ln.lower().startswith(("error", "×")) or "error:" in ln.lower()]
    return (errors or kept)[-n:]


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

    @property
    def overall(self) -> float:
        """Position on the whole import's 0-1 bar (STAGE_SPANS); unknown stages keep the bar where load starts."""
        lo, hi = STAGE_SPANS.get(self.stage, (0.0, 0.0))
        return lo + (hi - lo) * self.fraction

    def overall_text(self) -> str:
        """"Estimating poses — 63 % (120/300)": the stage's name and the overall percentage."""
        name = STAGE_NAMES.get(self.stage, self.stage.capitalize())
        detail = f"{self.done}/{self.total}" if self.total > 0 and self.stage in ("detect", "regress", "track") else \
            self.message
        return f"{name} — {round(100 * self.overall)} %" + (f" ({detail})" if detail else "")


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
        self.output_tail: collections.deque = collections.deque(maxlen=300)  # plain lines of both streams
        self._lines: queue.Queue = queue.Queue()
        self._stderr: list = []
        popen_kwargs = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        # UTF-8 both ways whatever the locale (Blender is often started under C/POSIX): pip draws its errors with
        # box characters, and a line that fails to decode would stop the reader thread and lose the output
        env = {**(os.environ if env is None else env), "PYTHONIOENCODING": "utf-8"}
        self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                                      bufsize=1, env=env, cwd=cwd, **popen_kwargs)
        self._threads = [
            threading.Thread(target=self._read, args=(self._proc.stdout, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self._proc.stderr, "err"), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def for_conversion(cls, python: str, core_parent: str, video: str, output: str, options) -> "ConvertWorker":
        """Start `<python> -m core convert` for `video` (checked first) with `core` importable from `core_parent`;
        `options` is a core.options.ConvertOptions (validated here, so a bad value fails before the child)."""
        check_start(python, core_parent, video)
        python = os.path.abspath(python)  # the child runs in core_parent: a relative path would point elsewhere
        options.validate()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (core_parent, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return cls(convert_command(python, video, output, options), env=env, cwd=core_parent)

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
                    self.output_tail.append(line.rstrip())
                continue
            report = parse_progress(line)
            if report is not None:
                self.progress = report
                new.append(report)
            elif line.strip():
                self.last_output = line.strip()
                self.output_tail.append(line.rstrip())
        if exit_code is not None and self.state == "running":
            if exit_code == 0:
                self.state = "done"
            else:
                self.state = "failed"
                lines = meaningful_lines(self._stderr, 1) or meaningful_lines(list(self.output_tail), 3)
                self.error = " | ".join(lines) or f"{os.path.basename(self.command[0])} exited with code {exit_code}"
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

    `fraction` is the weighted share of finished commands plus, inside a pip command, how far pip got (collecting,
    downloading, installing); `status` is the running command's last output line; a failing command stops the
    sequence with pip's last meaningful lines in `error`.
    """

    def __init__(self, commands: list, weights: tuple | None = None):
        if not commands:
            raise ValueError("CommandSequence needs at least one command")
        self._weights = list(weights) if weights else [1.0] * len(commands)
        if len(self._weights) != len(commands):
            raise ValueError(f"{len(commands)} commands but {len(self._weights)} weights")
        self._pending = [list(c) for c in commands]
        self._index = -1
        self._phase = 0.0  # how far the running pip command got, 0-1
        self.state = "running"
        self.error = ""
        self.status = ""
        self._current = self._start_next()

    def _start_next(self) -> ConvertWorker:
        command = self._pending.pop(0)
        self._index += 1
        self._phase = 0.0
        self.status = " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(command[:4]))
        return ConvertWorker(command)

    @property
    def fraction(self) -> float:
        """Share of the work done, 0-1 (1 once every command finished)."""
        if self.state == "done":
            return 1.0
        done = sum(self._weights[:self._index]) + self._weights[self._index] * self._phase
        return done / sum(self._weights)

    def poll(self) -> str:
        """Advance without blocking; returns the state ("running", "done", "failed" or "cancelled")."""
        if self.state != "running":
            return self.state
        self._current.poll()
        if self._current.last_output:
            self.status = self._current.last_output[:120]
            self._phase = max([self._phase] + [share for prefix, share in _PIP_PHASES
                                               if self._current.last_output.startswith(prefix)])
        if self._current.state == "done" and self._pending:
            self._current = self._start_next()
        elif self._current.state != "running":
            self.state = self._current.state
            lines = meaningful_lines(list(self._current.output_tail), 3)  # pip says what failed in a few lines
            self.error = " | ".join(lines) or self._current.error
        return self.state

    def cancel(self) -> None:
        """Kill the running command and drop the rest."""
        self._current.cancel()
        self._pending.clear()
        self.state = "cancelled"
