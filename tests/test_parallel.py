"""Executors: in-process, local process pool and Ray give the same, input-ordered results.

The reference for the parallel executors is the same seeded camforge capture run in this
process, one item after another: results must be equal bit for bit.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import os
import socket
import sys
import time

import pytest

from camforge.errors import ConfigError, DependencyError, InputError
from camforge.parallel import (
    ExecutorError,
    LocalExecutor,
    TaskError,
    available_cores,
    get_executor,
    progress_bar,
)

_CAM = None


def capture_stats(seed: int) -> tuple[int, float, float, float]:
    """A seeded small camforge capture: (seed, mean DN, std DN, one pixel DN)."""
    global _CAM
    from camforge import Camera

    if _CAM is None:
        _CAM = Camera({"name": "t", "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
                       "sensor": {"width_px": 64, "height_px": 48, "pixel_pitch_um": 1.4, "full_well_e": 6000}})
    raw = _CAM.capture(_CAM.chart("slanted-edge", lux=50, spectral=False), seed=seed)
    d = raw.data.double()
    return seed, float(d.mean()), float(d.std()), float(d[0, 0, 20, 30])


def square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError(f"item {x} is cursed")
    return x * x


def slow_first(x: int) -> int:
    time.sleep(0.3 if x == 0 else 0.0)  # item 0 finishes last in a pool
    return x


def die_on_one(x: int) -> int:
    if x == 1:
        os._exit(3)  # the worker process dies without a Python exception
    return x


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickle calls Unpicklable(msg) → TypeError on the way back
        super().__init__(f"{a}/{b}")


def raise_unpicklable(x: int) -> int:
    raise Unpicklable(x, "b")


SEEDS = [0, 1, 2, 7, 11, 12]


@pytest.fixture(scope="module")
def reference() -> list:
    import torch

    # Executors run every task with one torch thread (torch's sums depend on the thread count).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [capture_stats(s) for s in SEEDS]
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pool():
    with LocalExecutor(2) as ex:
        yield ex


def test_reference_is_seeded(reference):
    assert capture_stats(7) == reference[3]  # same seed, same numbers
    assert len({r[1] for r in reference}) == len(SEEDS)  # different seeds, different noise


def test_in_process_matches_reference(reference):
    seen = []
    with get_executor("serial") as ex:
        assert ex.map(capture_stats, SEEDS, progress=lambda d, n: seen.append((d, n))) == reference
    assert seen == [(i, len(SEEDS)) for i in range(len(SEEDS) + 1)]


def test_process_pool_matches_reference_in_input_order(pool, reference):
    seen = []
    assert pool.map(capture_stats, SEEDS, progress=lambda d, n: seen.append((d, n))) == reference
    assert seen == [(i, len(SEEDS)) for i in range(len(SEEDS) + 1)]
    assert pool.map(slow_first, range(6)) == list(range(6))  # item 0 finished last, still first
    assert pool.map(capture_stats, []) == []


@pytest.mark.parametrize("spec", ["serial", "pool"])
def test_task_errors_name_the_item(spec, pool):
    ex = pool if spec == "pool" else LocalExecutor(1)
    with pytest.raises(TaskError) as e:
        ex.map(square_or_fail, range(6))
    err = e.value
    assert err.index == 3 and err.item == 3 and err.error_type == "ValueError"
    assert "task 4 of 6 failed for item 3: ValueError: item 3 is cursed" in str(err)
    assert isinstance(err.cause, ValueError) and "square_or_fail" in err.traceback

    out = ex.map(square_or_fail, range(6), return_exceptions=True)
    assert [r if not isinstance(r, TaskError) else "E" for r in out] == [0, 1, 4, "E", 16, 25]
    assert out[3].item == 3

    fut = ex.submit(square_or_fail, 4)
    assert fut.result(timeout=60) == 16
    futs = [ex.submit(square_or_fail, i) for i in (2, 3)]
    cf.wait(futs, timeout=60)
    assert futs[0].result() == 4 and isinstance(futs[1].exception(), TaskError)


def test_pool_survives_a_dead_worker_and_bad_tasks(pool):
    with pytest.raises(TaskError, match="worker process died"):
        pool.map(die_on_one, range(3))
    assert pool.map(square_or_fail, [1, 2]) == [1, 4]  # a fresh pool takes over
    with pytest.raises(InputError, match="not picklable"):
        pool.map(lambda x: x, [1])
    with pytest.raises(TaskError, match="Unpicklable: 5/b"):
        pool.map(raise_unpicklable, [5])


def test_get_executor_specs(monkeypatch):
    assert get_executor("local").workers == available_cores()
    assert get_executor("local:3").workers == 3
    assert get_executor("serial").workers == 1
    monkeypatch.setenv("CAMFORGE_EXECUTOR", "local:2")
    assert get_executor(None).workers == 2
    for bad in ("local:0", "local:x", "threads", "ray:nohost"):
        with pytest.raises(ConfigError):
            get_executor(bad)
    with pytest.raises(ConfigError):
        LocalExecutor(0)


def test_ray_missing_is_a_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(DependencyError, match="pip install"):
        get_executor("ray")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_unreachable_address_fails_fast():
    pytest.importorskip("ray")
    port = _closed_port()
    t0 = time.monotonic()
    for spec in (f"ray://127.0.0.1:{port}", f"ray:127.0.0.1:{port}"):
        with pytest.raises(ExecutorError, match="connection refused"):
            get_executor(spec)
    assert time.monotonic() - t0 < 15


def test_ray_matches_reference(reference):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is already initialized in this process")
    t0 = time.monotonic()
    with get_executor("ray:local") as ex:
        assert ray.is_initialized() and ex.workers >= 1
        seen = []
        assert ex.map(capture_stats, SEEDS, progress=lambda d, n: seen.append(d)) == reference
        assert seen == list(range(len(SEEDS) + 1))
        with pytest.raises(TaskError, match="for item 3: ValueError: item 3 is cursed") as e:
            ex.map(square_or_fail, range(5))
        assert e.value.index == 3 and isinstance(e.value.cause, ValueError)
        out = ex.map(square_or_fail, range(5), return_exceptions=True)
        assert [isinstance(r, TaskError) for r in out] == [False, False, False, True, False]
        assert ex.submit(square_or_fail, 5).result(timeout=60) == 25
    assert not ray.is_initialized()  # shut down cleanly
    assert time.monotonic() - t0 < 120


def test_progress_bar():
    from rich.console import Console

    buf = io.StringIO()
    with progress_bar("conditions", console=Console(file=buf, force_terminal=True, width=100), enabled=True) as cb:
        for i in range(4):
            cb(i, 3 if i < 4 else 3)
    assert "conditions" in buf.getvalue() and "3/3" in buf.getvalue()
    quiet = io.StringIO()
    with progress_bar("x", console=Console(file=quiet, force_terminal=False)) as cb:
        cb(1, 2)
    assert quiet.getvalue() == ""  # no bar when not on a terminal
