"""The same speck of dust on the cover glass at f/1.8 and at f/8: size and contrast of its shadow.

    .venv/bin/python examples/qualify_blemish_physics.py [out.png]
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from camforge.qualify.blemish import Occluder, mean_contrast, peak_contrast, shadow_diameter_um, single_shadow

a_um, z_um, pitch = 20.0, 300.0, 2.0  # a 20 µm particle 0.3 mm above 2 µm pixels
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, N in zip(axes, (1.8, 8.0)):
    c = single_shadow(Occluder("disc", 100.0, 100.0, a_um, z_um), (100, 100), pitch, N)
    ax.imshow(1 - c, cmap="gray", vmin=0.6, vmax=1.0)
    ax.set_title(f"f/{N:g}: Ø {shadow_diameter_um(a_um, z_um, N):.0f} µm, peak {100 * peak_contrast(a_um, z_um, N):.1f} %")
    print(f"f/{N:g}: shadow diameter {shadow_diameter_um(a_um, z_um, N):.0f} µm, peak contrast "
          f"{100 * peak_contrast(a_um, z_um, N):.2f} %, mean {100 * mean_contrast(a_um, z_um, N):.2f} %")
    ax.axis("off")
out = sys.argv[1] if len(sys.argv) > 1 else "blemish_f18_f8.png"
fig.savefig(out, dpi=100, bbox_inches="tight")
print(f"wrote {out}")
