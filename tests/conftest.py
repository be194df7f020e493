"""Shared test fixtures.

Real test data lives outside the repository, in ``$CAMFORGE_DATA`` (default
``../shared/data`` next to the checkout); tests that need it skip with a clear reason when
it is missing. Tests write only to temporary folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("CAMFORGE_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data() -> Path:
    d = data_dir()
    if not d.is_dir():
        pytest.skip(f"real test data not found at {d} (set CAMFORGE_DATA to the shared data folder)")
    return d


def need(path: Path) -> Path:
    """Skip the calling test when a data file is missing."""
    if not path.exists():
        pytest.skip(f"test data file missing: {path} (set CAMFORGE_DATA to the shared data folder)")
    return path


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture
def designs_dir() -> Path:
    return REPO / "examples" / "designs"
