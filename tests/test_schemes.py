"""The sampler family: documented orders on exact laws, sampling vs exact law,
NumPy transcriptions of the published updates, diffusers cross-check, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from scorelab.cld import CLD
from scorelab.exact import exact_law
from scorelab.grids import grid
from scorelab.metrics_gaussian import w2_gaussian
from scorelab.processes import OU, VE, VP, SubVP, VEQuadratic
from scorelab.sample import sample
from scorelab.schemes import (
    SCHEMES,
    check_zero_time_scores,
    compile_scheme,
    scheme_names,
    zero_time_schemes,
)
from scorelab.targets import Gaussian

PROCS = [VP(), VE(), SubVP()]
PROC_IDS = ["VP", "VE", "SubVP"]

#: (scheme, options) pairs: every registered scheme with defaults, plus variants.
CONFIGS = [(name, {}) for name in scheme_names() if name != "pc"] + [
    ("ddim", {"eta": 0.5}),
    ("heun", {"s_churn": 1.0}),
    ("unipc-2", {"solver_type": "bh1"}),
    # the Langevin corrector does not shrink with h (see the pc docstring): its
    # order is the predictor's only for small snr
    ("pc", {"snr": 0.01}),
    ("pc", {"predictor": "heun", "snr": 0.01}),
]
STOCHASTIC = [
    ("ei-sde", {}),
    ("euler-maruyama", {}),
    ("ddpm", {}),
    ("dpm-solver++-2m-sde", {}),
    ("ddim", {"eta": 0.5}),
    ("heun", {"s_churn": 2.0}),
    ("pc", {}),
    ("pc", {"predictor": "ddim", "corrector_steps": 2, "snr": 0.1}),
]


def _cid(cfg: tuple[str, dict]) -> str:
    name, opts = cfg
    return name + "".join(f"-{k}={v}" for k, v in opts.items())


@pytest.fixture(scope="module")
def target() -> Gaussian:
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return Gaussian(rng.normal(size=3), Q @ np.diag([0.1, 0.7, 2.0]) @ Q.T)


def _grid_kind(name: str) -> str:
    # On uniform log-SNR steps the leading h^3 error term of the third-order
    # *multistep* exponential integrators nearly cancels on Gaussian targets
    # (measured slopes ~4 on VE and sub-VP up to 640 steps), so they are measured
    # on Karras grids (rho = 7), whose steps vary smoothly in log-SNR. Every other
    # scheme uses the log-SNR grid, which keeps all of them in their asymptotic
    # regime on VE (whose noise level spans 4 decades) with 40-320 steps.
    return "karras" if name in ("dpm-solver++-3m", "deis-3") else "logsnr"


@pytest.mark.parametrize("cfg", CONFIGS, ids=_cid)
@pytest.mark.parametrize("proc", PROCS, ids=PROC_IDS)
def test_documented_order(target, cfg, proc):
    """Log-log slope of W2(exact law, p_delta) over 40..320 steps within 0.25.

    init="exact" removes the initialisation error; delta = 1e-2.
    """
    name, opts = cfg
    steps = [40, 80, 160, 320]
    errs = []
    for N in steps:
        g = grid(_grid_kind(name), N, process=proc, delta=1e-2)
        law = exact_law(target, proc, name, g, init="exact", **opts)
        ref = target.noised(proc, g[-1])
        errs.append(w2_gaussian(law.mean, law.cov, ref.mean, ref.cov))
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    order = compile_scheme(name, proc, grid("uniform", 3, process=proc), **opts).order
    assert order == SCHEMES[name].order or name == "pc"
    if (type(proc).__name__, name) == ("VE", "euler-maruyama"):
        # first-order errors of Euler-Maruyama cancel on Gaussian targets for VE
        order = 2.0
    assert abs(slope - order) <= 0.25, (errs, slope, order)


def test_pc_fixed_snr_does_not_converge(target):
    """snr = 0.16: the fixed-size Langevin step leaves an N-independent bias."""
    proc = VP()
    errs = []
    for N in (40, 320):
        g = grid("logsnr", N, process=proc, delta=1e-2)
        law = exact_law(target, proc, "pc", g, init="exact", predictor="heun")
        ref = target.noised(proc, g[-1])
        errs.append(w2_gaussian(law.mean, law.cov, ref.mean, ref.cov))
        heun = exact_law(target, proc, "heun", g, init="exact")
        errs.append(w2_gaussian(heun.mean, heun.cov, ref.mean, ref.cov))
    # heun alone improves 64x (second order); with the corrector far less
    assert errs[1] / errs[3] > 50 and errs[0] / errs[2] < 3


@pytest.mark.parametrize("cfg", CONFIGS + STOCHASTIC, ids=_cid)
def test_sampler_matches_exact_law(target, cfg):
    """The native executor and the exact-law propagator run the same table:
    mean, variances and the variance along a fixed direction within 4 standard
    errors (n = 20000, VP, 10 uniform steps, prior init)."""
    name, opts = cfg
    proc = VP()
    g = grid("uniform", 10, process=proc)
    law = exact_law(target, proc, name, g, **opts)
    n = 20000
    x = sample(target, proc, name, g, n, seed=11, **opts)
    se = np.sqrt(np.diag(law.cov) / n)
    assert np.all(np.abs(x.mean(0) - law.mean) < 4 * se)
    u = np.array([0.6, -0.48, 0.64])
    v = np.append(np.diag(law.cov), u @ law.cov @ u)
    emp = np.append(x.var(0, ddof=1), (x @ u).var(ddof=1))
    assert np.all(np.abs(emp - v) < 4 * np.sqrt(2 / (n - 1)) * v)


# ---------------------------------------------------------------------------
# tables: structure and identities
# ---------------------------------------------------------------------------
def test_registry_metadata():
    for name, info in SCHEMES.items():
        assert info.kind in ("sde", "ode") and info.order > 0 and info.source, name
        assert info.builder.__doc__ and "order" in info.builder.__doc__.lower(), name
    for name in (
        "ddpm",
        "dpm-solver++-2m-sde",
        "pc",
        "ddim",
        "dpm-solver-2",
        "dpm-solver-3",
        "dpm-solver++-2m",
        "dpm-solver++-3m",
        "deis-2",
        "deis-3",
        "unipc-2",
        "heun",
        "euler",
    ):
        assert name in SCHEMES


def test_score_evaluation_counts():
    proc = VP()
    N = 12
    g = grid("logsnr", N, process=proc)
    counts = {
        "ddim": N,
        "heun": 2 * N,
        "rk4": 4 * N,
        "dpm-solver-2": 2 * N,
        "dpm-solver-3": 3 * N,
        "dpm-solver++-2m": N,
        "dpm-solver++-3m": N + 1,  # 2S warm-up step
        "deis-2": N,
        "deis-3": N + 1,  # DPM-Solver-2 warm-up step
        "unipc-2": N,  # corrector reuses the predicted point's score
    }
    for name, nc in counts.items():
        assert compile_scheme(name, proc, g).n_score_evals == nc, name
    pc = compile_scheme("pc", proc, g, predictor="heun", corrector_steps=3)
    assert pc.n_score_evals == 2 * N + 3 * N and pc.stochastic


def test_pc_identities(target):
    proc = VE()
    g = grid("logsnr", 15, process=proc)
    base = compile_scheme("dpm-solver++-2m", proc, g)
    pc0 = compile_scheme("pc", proc, g, predictor="dpm-solver++-2m", corrector_steps=0)
    for field in ("Y", "B", "E", "C", "eval", "keep", "stage_times"):
        np.testing.assert_array_equal(getattr(pc0, field), getattr(base, field))
    # history indices move with the extra stages; the law is still exact
    law = exact_law(target, proc, "pc", g, predictor="dpm-solver++-2m")
    x = sample(target, proc, "pc", g, 20000, seed=5, predictor="dpm-solver++-2m")
    se = np.sqrt(np.diag(law.cov) / 20000)
    assert np.all(np.abs(x.mean(0) - law.mean) < 4 * se)
    # corrector step size 2 (snr sigma_{k+1})^2 and noise 2 eps
    tab = compile_scheme("pc", proc, g, snr=0.2, corrector_steps=2)
    eps = 2 * (0.2 * proc.sigma(g[1:])) ** 2
    np.testing.assert_allclose(tab.B[:, 1, 1, 0, 0], eps)
    np.testing.assert_allclose(tab.C[:, 2, 0, 0], np.sqrt(2 * eps))
    corr_times = tab.stage_times.reshape(-1, 3)[:, 1:]
    np.testing.assert_allclose(corr_times, np.repeat(g[1:, None], 2, axis=1))


def test_ddim_eta_one_is_ddpm(target):
    proc = SubVP()
    g = grid("uniform", 25, process=proc)
    one = exact_law(target, proc, "ddim", g, eta=1.0)
    anc = exact_law(target, proc, "ddpm", g)
    np.testing.assert_allclose(one.mean, anc.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(one.cov, anc.cov, rtol=1e-10, atol=1e-12)


def test_multistep_first_steps():
    """DEIS-2's first step is DDIM; UniP-2 with bh2 is DPM-Solver++(2M)."""
    proc = VP()
    g = grid("logsnr", 8, process=proc)
    ddim = compile_scheme("ddim", proc, g)
    deis = compile_scheme("deis-2", proc, g)
    assert deis.Y[0, 1, 0, 0, 0] == pytest.approx(ddim.Y[0, 0, 0, 0, 0], rel=1e-14)
    assert deis.B[0, 1, 0, 0, 0] == pytest.approx(ddim.B[0, 0, 0, 0, 0], rel=1e-12)


def test_heun_churn_table():
    proc = VEQuadratic()
    g = grid("karras", 10, process=proc)
    plain = compile_scheme("heun", proc, g)
    assert plain.stages == 2 and not plain.stochastic
    tab = compile_scheme("heun", proc, g, s_churn=5.0, s_tmin=0.05, s_tmax=20.0)
    assert tab.stages == 3 and tab.stochastic and tab.order == 2
    t_hat = tab.stage_times.reshape(-1, 2)[:, 0]
    rho = g[:-1] * np.sqrt(proc.sigma_max**2 - proc.sigma_min**2)
    gamma = np.where((rho >= 0.05) & (rho <= 20.0), min(5.0 / 10, np.sqrt(2) - 1), 0)
    # EDM: t_hat = (1 + gamma) t for sigma(t) proportional to t
    np.testing.assert_allclose(t_hat, (1 + gamma) * g[:-1], rtol=1e-10)
    np.testing.assert_allclose(
        tab.C[:, 0, 0, 0], np.sqrt(proc.sigma2(t_hat) - proc.sigma2(g[:-1])), rtol=1e-9
    )


# ---------------------------------------------------------------------------
# NumPy transcriptions of the published updates (diffusers' step functions)
# ---------------------------------------------------------------------------
def _run_reference(name, target, proc, g, x0):
    """Step-by-step NumPy implementation with the analytic score."""
    a = np.asarray(proc.alpha(g))
    s = np.asarray(proc.sigma(g))
    lam = np.log(a / s)

    def score(x, t):
        return target.noised(proc, t).score(x)

    x = x0.copy()
    ms: list[np.ndarray] = []
    if name == "ddim":  # DDIMScheduler.step, eta = 0, epsilon prediction
        for k in range(len(g) - 1):
            eps = -s[k] * score(x, g[k])
            x0p = (x - s[k] * eps) / a[k]
            x = a[k + 1] * x0p + s[k + 1] * eps
        return x
    if name == "dpm-solver++-2m":  # first-order then midpoint 2M update
        for k in range(len(g) - 1):
            ms.append((x + s[k] ** 2 * score(x, g[k])) / a[k])
            h = lam[k + 1] - lam[k]
            if k == 0:
                x = s[k + 1] / s[k] * x - a[k + 1] * np.expm1(-h) * ms[-1]
            else:
                r0 = (lam[k] - lam[k - 1]) / h
                D0, D1 = ms[-1], (ms[-1] - ms[-2]) / r0
                x = s[k + 1] / s[k] * x - a[k + 1] * np.expm1(-h) * (D0 + 0.5 * D1)
        return x
    if name == "heun":  # EDM Algorithm 1 on the PF-ODE dx/dt = -f x - g^2 s / 2

        def vel(x, t):
            return proc.f(t) * x + 0.5 * proc.g2(t) * score(x, t)

        for k in range(len(g) - 1):
            h = g[k] - g[k + 1]
            d = vel(x, g[k])
            xe = x + h * d
            x = x + 0.5 * h * (d + vel(xe, g[k + 1]))
        return x
    if name == "unipc-2":  # diffusers' UniP/UniC (bh2), data prediction
        xc = x
        N = len(g) - 1
        m_prev = None
        m_cur = (xc + s[0] ** 2 * score(xc, g[0])) / a[0]
        for k in range(N):
            h = lam[k + 1] - lam[k]
            hphi = np.expm1(-h)
            p = 1 if k <= 1 else 2
            pred = s[k + 1] / s[k] * xc - a[k + 1] * hphi * m_cur
            if p == 2:
                r = (lam[k - 1] - lam[k]) / h
                pred -= a[k + 1] * hphi * 0.5 * (m_prev - m_cur) / r
            if k == N - 1:
                return pred
            m_new = (pred + s[k + 1] ** 2 * score(pred, g[k + 1])) / a[k + 1]
            if p == 1:
                rho = [0.5]
                corr = 0.0
            else:
                bvec = [(hphi / -h - 1) / hphi, 2 * ((hphi / -h - 1) / -h - 0.5) / hphi]
                rho = np.linalg.solve([[1.0, 1.0], [r, 1.0]], bvec)
                corr = rho[0] * (m_prev - m_cur) / r
            xc = s[k + 1] / s[k] * xc - a[k + 1] * hphi * m_cur
            xc = xc - a[k + 1] * hphi * (corr + rho[-1] * (m_new - m_cur))
            m_prev, m_cur = m_cur, m_new
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["ddim", "dpm-solver++-2m", "heun", "unipc-2"])
@pytest.mark.parametrize("proc", [VP(), VEQuadratic()], ids=["VP", "VEQuadratic"])
def test_matches_numpy_transcription(target, name, proc):
    g = grid("karras", 9, process=proc, delta=0.02)
    x0 = target.noised(proc, g[0]).sample(64, seed=2)
    ref = _run_reference(name, target, proc, g, x0)
    got = sample(target, proc, name, g, 64, init=x0, threads=1)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# diffusers (skipped unless diffusers and torch are installed)
# ---------------------------------------------------------------------------
def _diffusers_run(sched, times, proc, target, x0, torch):
    x = torch.from_numpy(x0.copy())
    for i, ts in enumerate(sched.timesteps):
        eps = -proc.sigma(times[i]) * target.noised(proc, times[i]).score(x.numpy())
        x = sched.step(torch.from_numpy(eps), ts, x).prev_sample
    return x.double().numpy()


# diffusers/torch warn against numpy 2
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_diffusers_cross_check(target):
    """dpm-solver++-2m, ddim and heun vs diffusers' schedulers on their grids.

    The grid is the scheduler's noise levels mapped to times through the log-SNR
    (rho = sigma/alpha = e^{-lambda}); the model output is the exact noise
    prediction -sigma_t * score. The schedulers' tables are converted to float64
    so that DDIM and Heun run in float64 (1e-8); DPMSolverMultistepScheduler
    casts the sample to float32 inside step(), so through step() it agrees to
    ~1e-5; its update formulas driven in float64 (step() without the cast) agree
    to 1e-8.
    """
    pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        HeunDiscreteScheduler,
    )

    N = 20
    vp = VP()
    # DPM-Solver++(2M): VP scaling, sigmas are rho = sigma/alpha
    sched = DPMSolverMultistepScheduler(
        algorithm_type="dpmsolver++",
        solver_order=2,
        lower_order_final=False,
        final_sigmas_type="sigma_min",
    )
    sched.set_timesteps(N)
    sched.sigmas = sched.sigmas.double()
    rho = sched.sigmas.numpy()
    times = np.asarray(vp.t_from_log_snr(-np.log(rho)))
    x0 = target.noised(vp, times[0]).sample(32, seed=1)
    ref = _diffusers_run(sched, times, vp, target, x0, torch)
    got = sample(target, vp, "dpm-solver++-2m", times, 32, init=x0)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # the same scheduler's update formulas driven in float64 (step() without its cast)
    sched = DPMSolverMultistepScheduler(
        algorithm_type="dpmsolver++",
        solver_order=2,
        lower_order_final=False,
        final_sigmas_type="sigma_min",
    )
    sched.set_timesteps(N)
    sched.sigmas = sched.sigmas.double()
    sched.alpha_t = sched.alpha_t.double()
    sched.sigma_t = sched.sigma_t.double()
    sched.lambda_t = sched.lambda_t.double()
    x = torch.from_numpy(x0.copy())
    for i, ts in enumerate(sched.timesteps):
        if sched.step_index is None:
            sched._init_step_index(ts)
        eps = -vp.sigma(times[i]) * target.noised(vp, times[i]).score(x.numpy())
        out = sched.convert_model_output(torch.from_numpy(eps), sample=x)
        sched.model_outputs[0] = sched.model_outputs[1]
        sched.model_outputs[1] = out
        if i == 0:
            x = sched.dpm_solver_first_order_update(out, sample=x)
        else:
            x = sched.multistep_dpm_solver_second_order_update(
                sched.model_outputs, sample=x
            )
        sched._step_index += 1
    np.testing.assert_allclose(got, x.numpy(), rtol=1e-8, atol=1e-8)
    # DDIM, eta = 0: times from alphas_cumprod at the scheduler's timesteps;
    # steps_offset=1 keeps the last step of positive length
    sched = DDIMScheduler(clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    sched.set_timesteps(N)
    sched.alphas_cumprod = sched.alphas_cumprod.double()
    sched.final_alpha_cumprod = sched.final_alpha_cumprod.double()
    abar = sched.alphas_cumprod.numpy()
    ab = np.append(abar[sched.timesteps.numpy()], sched.final_alpha_cumprod.item())
    times = np.asarray(vp.t_from_log_snr(0.5 * np.log(ab / (1 - ab))))
    x0 = target.noised(vp, times[0]).sample(32, seed=1)
    ref = _diffusers_run(sched, times, vp, target, x0, torch)
    got = sample(target, vp, "ddim", times, 32, init=x0)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8)
    # Heun (EDM): VEQuadratic has alpha = 1 and sigma(t) = sqrt(a) t, so Heun in
    # t is Heun in diffusers' sigma. Its sigmas are [s0, s1, s1, ..., 0]: model
    # call i is at sigmas[i]; stop before the final Euler step to 0.
    ve = VEQuadratic()
    ra = np.sqrt(ve.sigma_max**2 - ve.sigma_min**2)
    sched = HeunDiscreteScheduler()
    sched.set_timesteps(N)
    sched.sigmas = sched.sigmas.double()
    sig = sched.sigmas.numpy()
    rho = sig[:-1][np.concatenate([[True], np.diff(sig[:-1]) != 0])]
    times = rho / ra
    x0 = target.noised(ve, times[0]).sample(32, seed=1)
    x = torch.from_numpy(x0.copy())
    for i, ts in enumerate(sched.timesteps[: 2 * (len(times) - 1)]):
        t_now = sig[i] / ra
        eps = -sig[i] * target.noised(ve, t_now).score(x.numpy())
        x = sched.step(torch.from_numpy(eps), ts, x).prev_sample
    got = sample(target, ve, "heun", times, 32, init=x0)
    np.testing.assert_allclose(got, x.double().numpy(), rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------------
# phase-space processes and bad input
# ---------------------------------------------------------------------------
def test_scalar_only_schemes_refuse_cld():
    p = CLD()
    g = grid("uniform", 6, process=p)
    ok = {"ei-sde", "ei-ode"}
    for name in scheme_names():
        if name in ok:
            assert compile_scheme(name, p, g).m == 2
            continue
        with pytest.raises(ValueError, match="scalar") as exc:
            compile_scheme(name, p, g)
        assert "ei-sde" in str(exc.value) and len(str(exc.value)) > 90, name


def test_bad_input_messages():
    proc = VP()
    g = grid("uniform", 6, process=proc)
    with pytest.raises(ValueError, match="known schemes: .*unipc-2"):
        compile_scheme("unipc-3", proc, g)
    with pytest.raises(ValueError, match="valid options: s_churn, s_tmin"):
        compile_scheme("heun", proc, g, churn=1.0)
    with pytest.raises(ValueError, match="valid options: none"):
        compile_scheme("euler", proc, g, eta=0.1)
    for snr in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="snr"):
            compile_scheme("pc", proc, g, snr=snr)
    with pytest.raises(ValueError, match="eta"):
        compile_scheme("ddim", proc, g, eta=-0.5)
    with pytest.raises(ValueError, match="s_churn"):
        compile_scheme("heun", proc, g, s_churn=-1.0)
    with pytest.raises(ValueError, match="s_tmin"):
        compile_scheme("heun", proc, g, s_churn=1.0, s_tmin=2.0, s_tmax=1.0)
    with pytest.raises(ValueError, match="corrector_steps"):
        compile_scheme("pc", proc, g, corrector_steps=-1)
    with pytest.raises(ValueError, match="predictor must be one of .*ddpm"):
        compile_scheme("pc", proc, g, predictor="pc")
    with pytest.raises(ValueError, match="predictor must be one of"):
        compile_scheme("pc", proc, g, predictor="nope")
    with pytest.raises(ValueError, match="solver_type"):
        compile_scheme("unipc-2", proc, g, solver_type="bh3")
    with pytest.raises(ValueError, match="valid options: eta"):
        compile_scheme("pc", proc, g, predictor="ddim", predictor_options={"x": 1})


# ---------------------------------------------------------------------------
# ddpm variants: one step in closed form
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("beta", ["exact", "riemann"])
@pytest.mark.parametrize("variance", ["posterior", "beta"])
@pytest.mark.parametrize("proc", [OU(), VP()], ids=["OU", "VP"])
def test_ddpm_variants_one_step(proc, beta, variance):
    """One ddpm step from the exact p_{t_hi} of a 1-D Gaussian target, by hand.

    x ~ N(a_hi m, S) with S = a_hi^2 v0 + s_hi^2, score s(x) = -(x - a_hi m)/S;
    x' = A x + B s(x) + sqrt(V) xi with A = 1/a, B = v/a and
    exact: a = alpha_hi/alpha_lo, v = sigma_hi^2 - a^2 sigma_lo^2;
    riemann: v = beta_k = 2 h f(t_hi), a = sqrt(1 - beta_k);
    V = (sigma_lo^2/sigma_hi^2) v (posterior) or v (beta).
    """
    m, v0 = 0.7, 0.3
    tg = Gaussian([m], [[v0]])
    t_hi, t_lo = 0.4, 0.3
    al_hi, al_lo = float(proc.alpha(t_hi)), float(proc.alpha(t_lo))
    s2_hi, s2_lo = float(proc.sigma2(t_hi)), float(proc.sigma2(t_lo))
    if beta == "exact":
        a = al_hi / al_lo
        v = s2_hi - a * a * s2_lo
    else:
        v = 2.0 * (t_hi - t_lo) * float(proc.f(t_hi))
        a = np.sqrt(1.0 - v)
    V = s2_lo / s2_hi * v if variance == "posterior" else v
    S = al_hi**2 * v0 + s2_hi
    mean = al_hi * m / a
    var = (1.0 / a - v / (a * S)) ** 2 * S + V
    law = exact_law(
        tg, proc, "ddpm", [t_hi, t_lo], init="exact", beta=beta, variance=variance
    )
    assert law.mean[0] == pytest.approx(mean, rel=1e-12)
    assert law.cov[0, 0] == pytest.approx(var, rel=1e-12)
    tab = compile_scheme("ddpm", proc, [t_hi, t_lo], beta=beta, variance=variance)
    assert tab.options == {"beta": beta, "variance": variance}


def test_ddpm_default_and_option_errors():
    proc = VP()
    g = grid("uniform", 8, process=proc)
    d = compile_scheme("ddpm", proc, g)
    e = compile_scheme("ddpm", proc, g, beta="exact", variance="posterior")
    for name in ("Y", "B", "C"):
        np.testing.assert_array_equal(getattr(d, name), getattr(e, name))
    # riemann and exact agree to first order in h
    fine = grid("uniform", 400, process=proc)
    r = compile_scheme("ddpm", proc, fine, beta="riemann")
    x = compile_scheme("ddpm", proc, fine)
    assert np.max(np.abs(r.Y - x.Y)) < 1e-3
    for p in (VE(), SubVP(), VEQuadratic()):
        with pytest.raises(ValueError, match="VP-type"):
            compile_scheme("ddpm", p, grid("uniform", 8, process=p), beta="riemann")
    with pytest.raises(ValueError, match="beta_k"):
        compile_scheme("ddpm", proc, grid("uniform", 2, process=proc), beta="riemann")
    with pytest.raises(ValueError, match="beta must be"):
        compile_scheme("ddpm", proc, g, beta="midpoint")
    with pytest.raises(ValueError, match="variance must be"):
        compile_scheme("ddpm", proc, g, variance="learned")


# ---------------------------------------------------------------------------
# grids ending at t = 0
# ---------------------------------------------------------------------------
def _at_zero_cfgs() -> list[tuple[str, dict]]:
    return [(n, {}) for n in zero_time_schemes()] + [
        ("heun", {"s_churn": 1.0}),
        ("ddpm", {"variance": "beta"}),
        ("pc", {"predictor": "rk4"}),
    ]


@pytest.mark.parametrize("cfg", _at_zero_cfgs(), ids=_cid)
@pytest.mark.parametrize("proc", [VP(), VE()], ids=["VP", "VE"])
def test_grid_ending_at_zero(target, cfg, proc):
    """Every scheme not written in log-SNR runs to t = 0: finite law and samples,
    close to the data for 40 uniform steps on VP (VE's uniform grid is coarse)."""
    name, opts = cfg
    g = grid("uniform", 40, process=proc, delta=0.0)
    tab = compile_scheme(name, proc, g, **opts)
    at_end = bool(np.any(tab.stage_times == 0.0))
    assert at_end == (name in ("heun", "rk4", "pc")), name
    check_zero_time_scores(tab, target, proc)
    law = exact_law(target, proc, name, g, **opts)
    assert np.all(np.isfinite(law.mean)) and np.all(np.isfinite(law.cov))
    if isinstance(proc, VP):
        ref = target.noised(proc, 0.0)
        assert w2_gaussian(law.mean, law.cov, ref.mean, ref.cov) < 0.2
    x = sample(target, proc, name, g, 500, seed=4, **opts)
    assert np.all(np.isfinite(x))


def test_grid_ending_at_zero_refusals(target):
    proc = VP()
    g = grid("uniform", 10, process=proc, delta=0.0)
    for name in scheme_names():
        if name in zero_time_schemes():
            continue
        with pytest.raises(ValueError, match="t = 0") as exc:
            compile_scheme(name, proc, g)
        assert name in str(exc.value) and "rk4" in str(exc.value)
    with pytest.raises(ValueError, match="t = 0"):
        compile_scheme("pc", proc, g, predictor="dpm-solver-2")
    # a (numerically) singular data covariance has no score at t = 0
    singular = Gaussian([0.3, -1.0], np.diag([1.0, 1e-20]))
    for name, opts in (("heun", {}), ("rk4", {}), ("pc", {"predictor": "ddim"})):
        tab = compile_scheme(name, proc, g, **opts)
        with pytest.raises(ValueError, match=f"'{name}'.*stage .*singular"):
            check_zero_time_scores(tab, singular, proc)
        # and the executors refuse it before any work
        with pytest.raises(ValueError, match="singular"):
            exact_law(singular, proc, name, g, **opts)
        with pytest.raises(ValueError, match="singular"):
            sample(singular, proc, name, g, 8, seed=0, **opts)
    for name in ("ddim", "ddpm", "ei-ode", "euler"):
        check_zero_time_scores(compile_scheme(name, proc, g), singular, proc)
    # and a grid ending at delta > 0 never needs the data score
    pos = grid("uniform", 10, process=proc)
    check_zero_time_scores(compile_scheme("rk4", proc, pos), singular, proc)
