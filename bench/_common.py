"""Shared benchmark helpers: timing after warm-up (CUDA synchronised), tables, results JSON with versions."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device: str, warmup: int = 1, min_runs: int = 3,
              min_seconds: float = 2.0) -> float:
    """Median seconds per call after warm-up."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
        if len(times) >= 50:
            break
    times.sort()
    return times[len(times) // 2]


def matmul_peak_gflops(device: str, dtype: torch.dtype = torch.float32, sizes: tuple[int, ...] = (2048, 3072)) -> float:
    """The machine's practical peak for this dtype: the best rate of square matmuls (fastest of several runs)."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(2):
            a @ b
        sync(device)
        for _ in range(8):
            t = time.perf_counter()
            a @ b
            sync(device)
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def environment(device: str) -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
           "processor": platform.processor(), "threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name()
    return env


def print_table(rows: list[dict], columns: list[tuple[str, str, int]]) -> None:
    """Fixed-width table: columns are (key, header, width)."""
    print(" ".join(h.rjust(w) for _, h, w in columns))
    for r in rows:
        cells = []
        for key, _, w in columns:
            v = r.get(key, "")
            cells.append((f"{v:.3g}" if isinstance(v, float) and abs(v) < 1e4 else str(v)).rjust(w))
        print(" ".join(cells))


def write_results(name: str, rows: list[dict], device: str, extra: dict | None = None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"environment": environment(device), "rows": rows, **(extra or {})}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
