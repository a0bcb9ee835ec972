"""examples/schedules.py --quick runs and writes consistent tables and figures."""

import csv
import importlib.util
import math
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")


def _load():
    path = Path(__file__).parents[1] / "examples" / "schedules.py"
    spec = importlib.util.spec_from_file_location("schedules_example", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_schedules_example_quick(tmp_path):
    mod = _load()
    mod.main(["--quick", "--out", str(tmp_path)])
    for name in ("schedules.csv", "schedules_transfer.csv", "schedules_error.png",
                 "schedules_grids.png", "schedules_transfer.png"):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "schedules.csv").read_text().splitlines()
    rows = list(csv.DictReader(text))
    assert len(rows) == 2 * 2  # two targets x steps (5, 10), one scheme
    for r in rows:
        fam = {k: float(r[k]) for k in mod.FAMILY_LABELS if r[k] != ""}
        best = min(fam, key=fam.__getitem__)
        assert r["best"] == best
        opt = float(r["optimised"])
        # started from the best family: never worse
        assert opt <= fam[best] * (1 + 1e-9)
        assert math.isclose(float(r["gain"]), fam[best] / opt, rel_tol=1e-12)
        # robust: started from the family that is best in the worst case over
        # the scaled spectra, so never worse than it in that worst case
        assert r["best_worst"] in fam
        assert float(r["robust_worst"]) <= float(r["family_worst"]) * (1 + 1e-9)
        assert float(r["robust_worst"]) >= float(r["robust"]) * (1 - 1e-12)
        assert float(r["optimised_worst"]) >= opt * (1 - 1e-12)
    trows = list(csv.DictReader(
        (tmp_path / "schedules_transfer.csv").read_text().splitlines()
    ))
    grids = {r["grid"] for r in trows}
    assert "optimised" in grids and set(mod.FAMILY_LABELS) <= grids
    assert set(mod.sl.GRID_KINDS) - {"beta_a"} <= set(mod.FAMILY_LABELS)
    assert all(float(r["se"]) > 0 for r in trows)
