"""Multi-dataset sampling of SMPLer-X (`data/dataset.py::MultipleDatasets` + `DistributedSampler`, spec §2.3).

An epoch *plan* is a list of (dataset, record) pairs; a `PlanSampler` shuffles it, shards it over ranks and yields
keys `(dataset, record, epoch, position)`; `MixedDataset` turns a key into a sample whose augmentation generator is
seeded by (seed, epoch, position). Everything is a pure function of (seed, epoch, rank, world size), so a resumed run
sees exactly the samples of the uninterrupted one, whatever the number of DataLoader workers.

Strategies:
- `balance` (the reference): every one of the n datasets contributes exactly `total_len // n` samples per epoch;
  a dataset shorter than that is repeated in whole cycles, and its last partial cycle is drawn without replacement.
- `concat`: every record once per epoch.
- `weighted`: dataset i contributes `round(total_len · w_i / Σw)` samples (largest remainder), repeated or
  subsampled as in `balance`.

Deliberate differences from the reference:
- `balance` with `resample_each_epoch=True` (default) draws a *fresh* subset of a large dataset each epoch; the
  reference always used the same first `total_len // n` records of a once-shuffled list (spec §10.1), so most of
  BEDLAM, for example, was never seen. `resample_each_epoch=False` (the `smpler_x_*` configs' default) reproduces
  the fixed subset: the first records of the list shuffled once by Python's `random` seeded with `seed` (2023),
  the reference's `random.seed(2023); random.shuffle(datalist)`.
- The `total_len % n` left-over positions go to datasets drawn by the seeded generator (the reference used the
  global `random` module); for 32 datasets and 4.5M there is none.
- Shards are seeded per epoch like `DistributedSampler(shuffle=True)` + `set_epoch`, and the per-sample
  augmentation streams differ across ranks (the reference seeded all ranks identically, spec §10.10).
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

import numpy as np

STRATEGIES = ("balance", "concat", "weighted")


def _take(rng: np.random.Generator, n_items: int, count: int) -> np.ndarray:
    """`count` indices of a dataset of `n_items`: whole shuffled cycles, then a partial draw without replacement."""
    cycles, rest = divmod(count, n_items)
    parts = [rng.permutation(n_items) for _ in range(cycles)]
    parts.append(rng.permutation(n_items)[:rest])
    return np.concatenate(parts).astype(np.int64)


def _fixed_take(seed: int, n_items: int, count: int) -> np.ndarray:
    """The reference's balanced share of one dataset, the same every epoch: whole cycles of the list shuffled once
    with `random.seed(seed)`, then its first records for a dataset larger than its share (the last partial cycle of
    a small one is drawn without replacement by the seeded generator; the reference drew it with `random.randint`)."""
    order = list(range(n_items))
    random.Random(seed).shuffle(order)
    cycles, rest = divmod(count, n_items)
    tail = order[:rest] if cycles == 0 else np.random.default_rng([seed, n_items]).permutation(order)[:rest]
    return np.concatenate([np.tile(np.asarray(order, np.int64), cycles), np.asarray(tail, np.int64)])


def dataset_shares(lengths: Sequence[int], strategy: str, total_len: int | None = None,
                   weights: Sequence[float] | None = None, seed: int = 0) -> np.ndarray:
    """Samples per dataset in one epoch.

    Raises:
        ValueError: unknown strategy, an empty dataset, or missing `total_len`/`weights`.
    """
    lengths = np.asarray(lengths, np.int64)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown data strategy {strategy!r}; expected one of {STRATEGIES}")
    if np.any(lengths <= 0):
        raise ValueError(f"every dataset needs at least one record, got lengths {lengths.tolist()}")
    if strategy == "concat":
        return lengths.copy()
    if total_len is None or total_len <= 0:
        raise ValueError(f"strategy {strategy!r} needs total_len > 0")
    n = len(lengths)
    if strategy == "balance":
        shares = np.full(n, total_len // n, np.int64)
        extra = np.random.default_rng([seed, 7]).choice(n, total_len - shares.sum(), replace=False)
        shares[extra] += 1
        return shares
    if weights is None or len(weights) != n:
        raise ValueError(f"strategy 'weighted' needs one weight per dataset ({n}), got {weights}")
    w = np.asarray(weights, np.float64)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
    exact = total_len * w / w.sum()
    shares = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - shares), kind="stable")
    shares[order[: total_len - shares.sum()]] += 1
    return shares


def epoch_plan(lengths: Sequence[int], strategy: str, epoch: int, seed: int = 0, total_len: int | None = None,
               weights: Sequence[float] | None = None, resample_each_epoch: bool = True) -> np.ndarray:
    """(T,2) int64 (dataset, record) pairs of one epoch, grouped by dataset (the sampler shuffles them)."""
    shares = dataset_shares(lengths, strategy, total_len, weights, seed)
    rows = []
    for d, (n_items, count) in enumerate(zip(lengths, shares)):
        if strategy == "concat":
            items = np.arange(n_items, dtype=np.int64)
        elif resample_each_epoch:
            items = _take(np.random.default_rng([seed, d, epoch]), int(n_items), int(count))
        else:
            items = _fixed_take(seed, int(n_items), int(count))
        rows.append(np.stack([np.full(len(items), d, np.int64), items], 1))
    return np.concatenate(rows)


class PlanSampler:
    """Distributed sampler over an epoch plan (a torch `Sampler`: iterable with `len`).

    Args:
        lengths: records per dataset.
        strategy, total_len, weights, resample_each_epoch: see `epoch_plan`.
        seed: base seed; rank, world_size: this process's shard.
        batch_size: per-rank batch; the shard is cut to whole batches (drop_last, as the reference).
    """

    def __init__(self, lengths: Sequence[int], strategy: str = "balance", total_len: int | None = None,
                 weights: Sequence[float] | None = None, seed: int = 0, rank: int = 0, world_size: int = 1,
                 batch_size: int = 1, resample_each_epoch: bool = True) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.lengths, self.strategy, self.total_len, self.weights = list(lengths), strategy, total_len, weights
        self.seed, self.rank, self.world_size, self.batch_size = seed, rank, world_size, batch_size
        self.resample = resample_each_epoch
        self.epoch, self.start_batch = 0, 0
        total = int(dataset_shares(self.lengths, strategy, total_len, weights, seed).sum())
        self.per_rank = -(-total // world_size)
        self.batches_per_epoch = self.per_rank // batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(f"{total} samples per epoch over {world_size} ranks give no batch of {batch_size}")

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch (and, to resume mid-epoch, the first batch to yield)."""
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def shard(self) -> np.ndarray:
        """(batches·batch_size, 4) keys of this rank for the whole epoch."""
        plan = epoch_plan(self.lengths, self.strategy, self.epoch, self.seed, self.total_len, self.weights,
                          self.resample)
        pos = np.arange(len(plan), dtype=np.int64)
        order = np.random.default_rng([self.seed, 1, self.epoch]).permutation(len(plan))
        pad = self.per_rank * self.world_size - len(plan)  # DistributedSampler pads by repeating the head
        order = np.concatenate([order, order[:pad]])
        mine = order[self.rank::self.world_size][: self.batches_per_epoch * self.batch_size]
        keys = np.concatenate([plan[mine], np.full((len(mine), 1), self.epoch), pos[mine, None]], 1)
        return keys

    def __iter__(self) -> Iterator[tuple[int, int, int, int]]:
        keys = self.shard()[self.start_batch * self.batch_size:]
        return iter([tuple(int(v) for v in k) for k in keys])

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size


class MixedDataset:
    """Several `SampleDataset`s behind one key space; a key is (dataset, record, epoch, position).

    The augmentation generator of a sample is `default_rng([seed, epoch, position])`: a function of the key only.
    """

    def __init__(self, datasets: Sequence, seed: int = 0) -> None:
        self.datasets, self.seed = list(datasets), seed

    @property
    def lengths(self) -> list[int]:
        return [len(d) for d in self.datasets]

    def __getitem__(self, key: tuple[int, int, int, int]) -> dict:
        d, i, epoch, pos = key
        out = self.datasets[d].sample(i, np.random.default_rng([self.seed, epoch, pos]))
        out["dataset_index"] = np.int64(d)
        return out
