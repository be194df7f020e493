"""Brown–Conrady lens distortion.

D. C. Brown, "Decentering distortion of lenses", Photogrammetric Engineering 32(3):444–462
(1966); A. E. Conrady, MNRAS 79:384–390 (1919). Same convention as OpenCV: coordinates are
normalised by the focal length (x = X / f on the image plane), and the model maps ideal
(undistorted) coordinates to distorted ones:

    x_d = x (1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)
    y_d = y (1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y

with r² = x² + y². Negative k1 is barrel distortion. The inverse is solved by fixed-point
iteration (differentiable through the unrolled iterations).
"""

from __future__ import annotations

import torch


def distort(x: torch.Tensor, y: torch.Tensor, k1=0.0, k2=0.0, k3=0.0, p1=0.0, p2=0.0):
    """Ideal normalised coordinates → distorted normalised coordinates."""
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd, yd


def undistort(xd: torch.Tensor, yd: torch.Tensor, k1=0.0, k2=0.0, k3=0.0, p1=0.0, p2=0.0, iterations: int = 8):
    """Distorted normalised coordinates → ideal ones (inverse of :func:`distort`)."""
    if all((not torch.is_tensor(k) and k == 0) for k in (k1, k2, k3, p1, p2)):
        return xd, yd
    x, y = xd, yd
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x = (xd - dx) / radial
        y = (yd - dy) / radial
    return x, y
