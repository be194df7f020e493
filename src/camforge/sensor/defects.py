"""Defect-pixel maps, fixed per sensor instance.

Hot pixels have a much larger dark current; dead pixels have no photo-response; stuck
pixels read a fixed value; clusters are 2–6 edge-connected pixels grown by a random walk,
hot or dead. The map is a deterministic function of the sensor's ``seed`` and size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from camforge.sensor.config import DefectConfig


@dataclass
class DefectMap:
    """Boolean masks ``[H, W]`` of each defect kind (a pixel has at most one kind)."""

    hot: torch.Tensor
    dead: torch.Tensor
    stuck: torch.Tensor

    @property
    def any(self) -> torch.Tensor:
        return self.hot | self.dead | self.stuck

    def count(self) -> dict[str, int]:
        return {"hot": int(self.hot.sum()), "dead": int(self.dead.sum()), "stuck": int(self.stuck.sum())}


def make_defect_map(cfg: DefectConfig, height: int, width: int, seed: int) -> DefectMap:
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xDEFEC7]))
    n = height * width
    kind = np.zeros(n, dtype=np.int8)  # 0 ok, 1 hot, 2 dead, 3 stuck

    def place(count: int, value: int):
        if count <= 0:
            return
        free = np.flatnonzero(kind == 0)
        idx = rng.choice(free, size=min(count, free.size), replace=False)
        kind[idx] = value

    def draw(ppm: float) -> int:
        return int(rng.poisson(ppm * 1e-6 * n))

    place(draw(cfg.hot_ppm), 1)
    place(draw(cfg.dead_ppm), 2)
    place(draw(cfg.stuck_ppm), 3)
    n_clusters = draw(cfg.cluster_ppm)
    k2 = kind.reshape(height, width)
    for _ in range(n_clusters):
        size = int(rng.integers(2, 7))
        value = 1 if rng.random() < 0.5 else 2
        cells = [(int(rng.integers(0, height)), int(rng.integers(0, width)))]
        for _ in range(50):
            if len(cells) >= size:
                break
            cy, cx = cells[int(rng.integers(0, len(cells)))]
            dy, dx = ((0, 1), (1, 0), (0, -1), (-1, 0))[int(rng.integers(0, 4))]
            cell = (min(max(cy + dy, 0), height - 1), min(max(cx + dx, 0), width - 1))
            if cell not in cells:
                cells.append(cell)
        for cy, cx in cells:
            k2[cy, cx] = value
    t = torch.from_numpy(k2.copy())
    return DefectMap(hot=t == 1, dead=t == 2, stuck=t == 3)
