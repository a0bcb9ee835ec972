"""scorelab.benchmark (``scorelab bench``): agreement columns on tiny cases.

Only the agreement of scorelab with the NumPy references is checked, never timings.
"""

from __future__ import annotations

import numpy as np
import pytest

import scorelab as sl
from scorelab import benchmark as bm
from scorelab.cli import main as cli_main


@pytest.mark.parametrize(
    "case",
    [
        bm.Case("ei-sde", 2, 3, 3000, 5),
        bm.Case("ei-sde", 2, 3, 3000, 5, dtype="float32"),
        bm.Case("ei-sde", 3, 2, 3000, 5, cov="diag", threads=1),
        bm.Case("ei-sde", 10, 2, 1000, 4),
        bm.Case("w2", 16, 0, 50, 0),
    ],
)
def test_run_case_agrees(case: bm.Case) -> None:
    row = bm.run_case(case, repeats=1)
    assert row["same"] is True
    assert row["score_same"] is True
    assert row["score_err"] < 1e-10
    assert row["ps_scorelab"] > 0 and row["ps_numpy"] > 0


def test_numpy_score_reference_matches_target_score() -> None:
    mix = bm.make_mixture(4, 3)
    x = np.random.default_rng(0).normal(size=(200, 4)) * 3
    ref = bm.numpy_mixture_score(mix.weights, mix.means, mix.covariances, x)
    np.testing.assert_allclose(mix.score(x), ref, rtol=1e-12, atol=1e-12)


def test_numpy_w2_reference_matches_w2_gaussian() -> None:
    m1, S1 = bm.random_spd_batch(20, 5, seed=1)
    m2, S2 = bm.random_spd_batch(20, 5, seed=2)
    np.testing.assert_allclose(
        bm.numpy_w2_gaussian(m1, S1, m2, S2),
        sl.w2_gaussian(m1, S1, m2, S2),
        rtol=0,
        atol=1e-10,
    )


def test_dtype_speedup_reports_both_rates() -> None:
    sp = bm.dtype_speedup(d=2, K=2, n=400, steps=3, threads=1, repeats=1)
    assert set(sp) == {"float64", "float32", "speedup"}
    assert all(np.isfinite(v) and v > 0 for v in sp.values())
    assert sp["speedup"] == pytest.approx(sp["float32"] / sp["float64"])


def test_score_flops() -> None:
    assert bm.score_flops(2, 8) == 8 * (2 * 2 * 3 + 10 + 4)
    assert bm.score_flops(3, 2, "diag") == 2 * (18 + 4)


def test_cli_bench_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(
        [
            "bench",
            "--no-peak",
            "--repeats",
            "1",
            "--case",
            "ei-sde:2:2:500:3",
            "--case",
            "w2:3:0:20:0",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    lines = [
        ln
        for ln in out.splitlines()
        if ln.startswith("| ei-sde") or ln.startswith("| w2")
    ]
    assert len(lines) == 2
    # agreement columns: statistical ("same") and exact ("exact" error)
    for ln in lines:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert cells[-2] == "yes"
        assert float(cells[-1]) < 1e-10
