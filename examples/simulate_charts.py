"""Simulate a ColorChecker capture, save it as a DNG and a quick-look PNG, read it back.

Run:  python examples/simulate_charts.py   (writes ./sim-out/)
"""

from pathlib import Path

import camforge as cf
from camforge.io import quicklook, read_raw, write_dng, write_png

cam = cf.Camera.from_yaml(Path(__file__).parent / "designs" / "automotive_2mp.yaml")
scene = cam.chart("colorchecker", lux=100, illuminant="D65", spectral=False)  # spectral=True: 31 bands
raw = cam.capture(scene, seed=0)  # auto exposure; same seed, same raw
out = Path("sim-out")
out.mkdir(exist_ok=True)
write_dng(raw, out / "colorchecker.dng")  # opens in rawpy, darktable, RawTherapee, ...
write_png(out / "colorchecker.png", quicklook(raw))
back = read_raw(out / "colorchecker.dng")
print(f"{back.meta.cfa} {back.width}x{back.height}, black {back.meta.black_level_dn[0]:g} DN, "
      f"exposure {back.meta.exposure_s * 1e3:.2f} ms, gain {back.meta.analog_gain:.2f}x")
