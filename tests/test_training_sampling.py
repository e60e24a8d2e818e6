"""Multi-dataset sampling (training/sampling.py): balance counts, determinism, sharding, resume."""

from __future__ import annotations

import numpy as np
import pytest

from training.sampling import PlanSampler, dataset_shares, epoch_plan


def test_balance_each_dataset_gets_equal_share():
    lengths = [3, 10, 50]
    plan = epoch_plan(lengths, "balance", epoch=0, seed=1, total_len=30)
    assert len(plan) == 30
    assert np.bincount(plan[:, 0]).tolist() == [10, 10, 10]
    small = plan[plan[:, 0] == 0, 1]
    assert np.bincount(small, minlength=3).min() >= 3  # repeated in whole cycles (3 × 3 + 1)
    big = plan[plan[:, 0] == 2, 1]
    assert len(np.unique(big)) == 10  # a subset without repetition
    for d, n in enumerate(lengths):
        assert plan[plan[:, 0] == d, 1].max() < n


def test_balance_32_datasets_reference_numbers():
    shares = dataset_shares([10**6] * 32, "balance", 4_500_000)
    assert shares.tolist() == [140_625] * 32


def test_plan_is_deterministic_and_reshuffled_per_epoch():
    a = epoch_plan([5, 40], "balance", 0, seed=3, total_len=20)
    b = epoch_plan([5, 40], "balance", 0, seed=3, total_len=20)
    c = epoch_plan([5, 40], "balance", 1, seed=3, total_len=20)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    fixed0 = epoch_plan([5, 40], "balance", 0, seed=3, total_len=20, resample_each_epoch=False)
    fixed1 = epoch_plan([5, 40], "balance", 1, seed=3, total_len=20, resample_each_epoch=False)
    np.testing.assert_array_equal(fixed0, fixed1)  # the reference's fixed subset


def test_concat_and_weighted():
    plan = epoch_plan([3, 4], "concat", 0)
    assert sorted(map(tuple, plan.tolist())) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert dataset_shares([10, 10, 10], "weighted", 10, weights=[1, 1, 2]).tolist() == [3, 2, 5]
    s = dataset_shares([10, 10], "weighted", 9, weights=[2, 1])
    assert s.tolist() == [6, 3]
    with pytest.raises(ValueError, match="unknown data strategy"):
        dataset_shares([1], "nope", 1)


def test_ranks_partition_the_epoch_and_resume_is_a_suffix():
    kw = dict(lengths=[7, 30], strategy="balance", total_len=40, seed=5, batch_size=4)
    shards = [PlanSampler(rank=r, world_size=2, **kw) for r in range(2)]
    keys = [np.array(list(s)) for s in shards]
    assert all(len(k) == 20 for k in keys)
    pos = np.concatenate([k[:, 3] for k in keys])
    assert sorted(pos.tolist()) == list(range(40))  # disjoint and complete
    again = np.array(list(PlanSampler(rank=0, world_size=2, **kw)))
    np.testing.assert_array_equal(keys[0], again)
    s = PlanSampler(rank=1, world_size=2, **kw)
    s.set_epoch(0, start_batch=3)
    np.testing.assert_array_equal(np.array(list(s)), keys[1][12:])
    assert len(s) == 8
    s.set_epoch(1)
    assert not np.array_equal(np.array(list(s)), keys[1])
