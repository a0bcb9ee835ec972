"""The study-file reference: every key, its type, default and allowed values.

The single source of ``docs/study-format.md`` (``python -m
scorelab.study.reference > docs/study-format.md``; a test checks that the
committed file is in sync) and of ``scorelab run --explain KEY``. Allowed values
are read from the registries the parser uses (schemes, processes, score errors,
grid kinds, metrics, bounds), so the reference lists what the parser accepts.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Sequence

from .schema import GRID_COLUMNS

__all__ = ["EXAMPLES", "KEYS", "Key", "explain", "key_names", "markdown"]


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of a study file.

    Attributes
    ----------
    name : str
        Its path, e.g. ``"grids"``, ``"plot.x"`` or ``"targets.NAME.spectrum"``.
    type : str
        The TOML types accepted.
    default : str
        The default ("required" when there is none).
    text : str
        What it means (Markdown).
    allowed : callable or None
        Returns the allowed values (read from the registries when called).
    example : str
        A TOML line or two.
    """

    name: str
    type: str
    default: str
    text: str
    allowed: Callable[[], Sequence[str]] | None = None
    example: str = ""


# -- allowed values, from the registries ------------------------------------
def _schemes() -> list[str]:
    from ..schemes import SCHEMES, scheme_names

    out = []
    for name in scheme_names():
        opts = SCHEMES[name].options
        out.append(f"{name} ({', '.join(opts)})" if opts else name)
    return out


def _signature(cls: type) -> str:
    from .presets import _parameters

    params = []
    for p in _parameters(cls):
        params.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}=")
    return f"{cls.__name__}({', '.join(params)})" if params else cls.__name__


def _processes() -> list[str]:
    from .presets import _process_classes

    return [_signature(c) for c in _process_classes().values()]


def _errors() -> list[str]:
    from .presets import _error_classes

    return ["none", *(_signature(c) for c in _error_classes().values())]


def _grids() -> list[str]:
    from .parse import GRID_OPTIONS

    return [f"{k} ({', '.join(v)})" if v else k for k, v in GRID_OPTIONS.items()]


def _optimized() -> list[str]:
    from .optimized import _allowed

    return [
        f"{k} ({', '.join(v)})" if v else f"{k} (integer >= 1)"
        for k, v in _allowed().items()
    ]


def _metrics() -> list[str]:
    from .presets import _empirical_metrics, _metrics_module, _parameters
    from .schema import EMPIRICAL_METRICS, EXACT_METRICS

    out = [f"{m} (exact)" for m in EXACT_METRICS]
    mod = _metrics_module()
    if mod is None:
        return out + list(EMPIRICAL_METRICS)
    for name in _empirical_metrics(mod):
        opts = [p.name for p in _parameters(getattr(mod, name))[2:]]
        out.append(f"{name} ({', '.join(opts)})" if opts else name)
    return out


def _bounds() -> list[str]:
    from .presets import _bounds_module, _public_functions

    mod = _bounds_module()
    return [] if mod is None else _public_functions(mod)


def _presets() -> list[str]:
    from .presets import _PRESETS

    return [f"{p} ({', '.join(o)})" if o else p for p, _, o in _PRESETS]


def _const(values: Sequence[str]) -> Callable[[], Sequence[str]]:
    return lambda: list(values)


def _inits() -> list[str]:
    from .schema import INITS

    return list(INITS)


def _references() -> list[str]:
    from .schema import REFERENCES

    return list(REFERENCES)


def _suffixes() -> list[str]:
    from .schema import OUTPUT_SUFFIXES

    return list(OUTPUT_SUFFIXES)


def _spectra() -> list[str]:
    from .presets import SPECTRA

    return list(SPECTRA)


def _columns() -> list[str]:
    from .schema import COLUMNS

    return list(COLUMNS)


# -- the keys ------------------------------------------------------------------
_LIST = "Every setting may be a single value or a list (the cells are the product)."

KEYS: tuple[Key, ...] = (
    Key("name", "string", "the file's stem", "Study name (column `study`)."),
    Key("description", "string", '""', "Free text."),
    Key(
        "seed",
        "integer >= 0",
        "0",
        "Study seed. Each (cell, replicate) spawns its own seed from it and a "
        "SHA-256 hash of the cell's settings, so rows do not depend on the "
        "order of the lists, resumes or the number of workers.",
    ),
    Key(
        "replicates",
        "integer >= 1",
        "1",
        "Monte Carlo replicates per cell (cells whose metrics are all exact run once).",
    ),
    Key("threads", "integer >= 1", "all CPUs", "CPU threads per cell."),
    Key(
        "out",
        "string",
        "NAME.csv in the current folder",
        "Result table. `.parquet`/`.pq` need pyarrow "
        '(`pip install "scorelab[parquet]"`); `scorelab run --out` overrides it.',
        _suffixes,
    ),
    Key(
        "targets",
        "table of named targets, a preset name, or a list of preset names",
        "required",
        "The data laws. In a `[targets]` table each name is a target (its "
        "column value) defined by a preset name or by one of the tables "
        "`targets.NAME.*` below; a setting `targets = [...]` in a sweep "
        "selects targets by name.",
        _presets,
        '[targets]\nring = {preset = "gmm-2d-8", radius = 3.0}',
    ),
    Key(
        "targets.NAME.preset",
        "string",
        "-",
        "A preset with its options: `gaussian-{d}d` (standard normal), "
        "`gaussian-{d}d-aniso` (random mean, eigenvalues `geomspace(0.05, 4, "
        "d)` in a random basis; `seed`), `gmm-{d}d-{K}` (K spherical "
        "components of variance `var` = 0.1, means on a circle of `radius` = 4).",
        _presets,
        'g = {preset = "gaussian-10d-aniso", seed = 3}',
    ),
    Key(
        "targets.NAME.mean",
        "list of numbers (with `cov`)",
        "-",
        "A Gaussian N(mean, cov): `cov` a number (cov I), a list (a diagonal) "
        "or a list of lists (full, symmetric positive definite).",
        None,
        "g = {mean = [0, 0], cov = [[1, 0.5], [0.5, 1]]}",
    ),
    Key(
        "targets.NAME.weights",
        "list of numbers (with `means`, `covs`, `covariance_type`)",
        "-",
        "A Gaussian mixture: `weights` (K), `means` (K lists of d numbers), "
        '`covs` per component: K numbers (`covariance_type = "spherical"`), '
        'K lists of d (`"diag"`) or K d x d matrices (`"full"`, the default).',
        _const(["full", "diag", "spherical"]),
        "[targets.mix]\nweights = [0.3, 0.7]\nmeans = [[-2, 0], [2, 0]]\n"
        "covs = [[[1, 0.5], [0.5, 1]], [[0.5, 0], [0, 0.2]]]",
    ),
    Key(
        "targets.NAME.spectrum",
        "string (with `dim`, `alpha`, `scale`, `mean`)",
        "-",
        "A spectral Gaussian with eigenvalues `scale * k**-alpha`, k = 1..dim, "
        "in the standard basis (`alpha` default 1, `scale` 1, `mean` 0: a "
        "number or a list). Exact laws and the metrics `w2`/`kl` run per "
        "eigenvalue: no d x d matrix (192 exact laws at d = 3072 in seconds, "
        "`examples/spectrum_table.toml`).",
        _spectra,
        'img = {spectrum = "power-law", dim = 3072, alpha = 1.2, scale = 1.0, '
        "mean = 0}",
    ),
    Key(
        "targets.NAME.eigenvalues",
        "list of numbers >= 0 (with optional `basis`, `mean`)",
        "-",
        "A spectral Gaussian with these eigenvalues (zeros allowed: singular "
        "data covariances), in `basis` (orthonormal columns; default the "
        "identity).",
        None,
        "s = {eigenvalues = [4.0, 1.0, 0.25, 0.0], mean = 0}",
    ),
    Key(
        "targets.NAME.data",
        "string: a .npy file (with optional `sha256`)",
        "-",
        "The Gaussian fitted to a data matrix (n x d; sample mean and "
        "covariance, kept as its eigen-decomposition). The path is relative to "
        "the study file. The file's SHA-256 joins the task identity, so a "
        "changed file is not resumed from old rows; `sha256`, if given, must "
        "match.",
        None,
        'cifar = {data = "cifar_features.npy"}',
    ),
    Key(
        "processes",
        "string or table `{name, PARAM = ..., label}`",
        '"VP"',
        "Forward processes (class names of `scorelab.processes`, with their "
        "parameters). " + _LIST,
        _processes,
        'processes = ["VP", {name = "VE", sigma_max = 50, label = "VE50"}]',
    ),
    Key(
        "schemes",
        "string or table `{name, OPTION = ..., label}`",
        '"ei-sde"',
        "Samplers with their options (in parentheses). " + _LIST,
        _schemes,
        'schemes = ["ei-sde", {name = "ddim", eta = 0.5}]',
    ),
    Key(
        "grids",
        "string, table `{kind, OPTION = ..., label}`, or a list of times",
        '"uniform"',
        "Time grids: a kind (options in parentheses: the keyword options of "
        "`scorelab.grid`; `rho` is the exponent of `karras` and `power`, `c` "
        "the data standard deviation of `ays`), an optimised grid "
        '(`kind = "optimized"`, see `grids.optimized`), or an explicit grid: '
        "a decreasing list of "
        'times T = t_0 > ... > t_N >= 0, or `{kind = "explicit", times = '
        "[...]}`. An explicit grid fixes steps, T and delta (give none of them, "
        "or the same values; put explicit grids in a `[[sweep]]` of their own "
        "when other grids take `steps`); it may end at 0 for the schemes that "
        "accept t_N = 0. A list of lists is several explicit grids. " + _LIST,
        _grids,
        'grids = ["logsnr", {kind = "karras", rho = 7}, {kind = "ays", c = 0.5}]\n'
        "# or one explicit grid (no steps):\n# grids = [1.0, 0.5, 0.1, 1e-3]",
    ),
    Key(
        "grids.optimized",
        "table `{kind = \"optimized\", objective, metric, start, maxiter, fit, "
        "label}`",
        '`objective = "final"`, `metric = "w2"`, `start = "best"`, `maxiter` '
        "that of `optimize_grid`, no `fit`",
        "The grid `scorelab.schedules.optimize_grid` finds for the cell's own "
        "Gaussian target, process, scheme (with its options), steps, delta, "
        "init and score error: `objective` (`final`: the final law's `metric`, "
        "`w2` or `kl`; `profile`/`profile-max`: mean/max W2 over the time "
        "profile), `start` (a grid kind, or `best`: the best family, so never "
        'worse than it), `maxiter`. A Gaussian mixture target needs `fit = '
        '"moments"`: the grid is optimised on the Gaussian with the '
        "mixture's mean and covariance and used on the mixture. It starts at "
        "the process's T (set T in the process's table). Each grid is "
        "computed once per key (target, process, scheme, steps, T, delta, "
        "init, score error, options): in memory, and in the folder "
        "`OUT.grids/` next to the output (`<sha256 of the key>.json`; kept "
        "after the run, delete it to recompute), which reruns, and the Dask "
        "client before submitting cells, read. The rows "
        "of a study with optimised grids get the columns "
        + ", ".join(f"`{c}`" for c in GRID_COLUMNS)
        + " (the times as a JSON list, the start family, the objective at the "
        "start and at the optimised grid).",
        _optimized,
        'grids = [{kind = "optimized", objective = "final", metric = "w2", '
        'start = "best", fit = "moments"}]',
    ),
    Key(
        "steps",
        "integer >= 1",
        "required, unless `nfe` or an explicit grid",
        "Number of steps. " + _LIST,
        None,
        "steps = [10, 20, 40, 80]",
    ),
    Key(
        "nfe",
        "integer >= 1",
        "-",
        "A budget of score evaluations instead of `steps` (not both, except "
        "that a sweep's own `nfe` replaces a `steps` set above it): each cell "
        "gets the most steps whose evaluations under its scheme fit in the "
        "budget (`scorelab.schemes.scheme_nfe`: evaluations per step, plus "
        "the warm-up of multistep schemes). Every row records the evaluations "
        "actually used in its `nfe` column; a cell whose budget gives the same "
        "steps as a `steps` cell is the same task. " + _LIST,
        None,
        "nfe = [20, 40, 80]",
    ),
    Key(
        "T",
        "number > 0",
        "the process's T",
        "Initial (largest) time. " + _LIST,
    ),
    Key(
        "delta",
        "number > 0",
        "0.001",
        "Early-stopping (final) time. " + _LIST,
        None,
        "delta = [1e-3, 1e-2]",
    ),
    Key(
        "score_errors",
        'string "none" or table `{name, PARAM = ..., label}`',
        '"none"',
        "Score-error models (`scorelab.errors`); a number for a `vector` "
        "means that number in every coordinate; `other` (Misspecified) names "
        "a target. Exact metrics need affine errors (Bias, Linear, "
        "Misspecified by a Gaussian). " + _LIST,
        _errors,
        'score_errors = ["none", {name = "Bias", vector = 0.1, label = "bias"}]',
    ),
    Key(
        "init",
        "string",
        '"prior"',
        "Initial law at T: the process's prior, the law of X_T given X_0 = 0, "
        "or the exact marginal p_T (no initialisation error). " + _LIST,
        _inits,
    ),
    Key(
        "n",
        "integer >= 1",
        "10000",
        "Particles per cell for empirical metrics (cells with only exact "
        "metrics ignore it and record n = 0). " + _LIST,
    ),
    Key(
        "metrics",
        "string or table `{name, OPTION = ..., reference, label}`, or a list",
        "required",
        "`w2` and `kl` are exact (the sampler's exact output law; Gaussian "
        "targets and affine score errors); the others are empirical "
        "(`scorelab.metrics`, on `n` samples, with a standard error). "
        '`reference`: the true marginal at delta (`"marginal"`, the '
        'default: the sampler\'s error) or the data law (`"data"`). A '
        "metric used twice needs distinct labels.",
        _metrics,
        'metrics = ["w2", {name = "w2", label = "w2_data", reference = "data"}]',
    ),
    Key(
        "metrics[].reference",
        "string",
        '"marginal"',
        "The law a metric compares the output with.",
        _references,
    ),
    Key(
        "bounds",
        "string or table `{name, PARAM = ..., label}`, or a list",
        "[]",
        "Functions of `scorelab.bounds` evaluated per cell; parameters named "
        "like the cell's settings (process, grid, target, d, steps, T, delta, "
        "h, score_error, scheme, init) are filled in.",
        _bounds,
    ),
    Key(
        "zip",
        "list of lists of setting names",
        "[]",
        "Settings varied together (equal lengths; scalars broadcast) instead "
        "of in the product.",
        None,
        'zip = [["steps", "n"]]',
    ),
    Key(
        "sweep",
        "array of tables `[[sweep]]`",
        "one sweep of the top-level settings",
        "Each sweep overrides the top-level settings (and `name`, `metrics`, "
        "`bounds`, `zip`, `replicates`) and adds its own product of cells; "
        "the study is their union.",
    ),
    Key(
        "plot",
        "table `[plot]`",
        "none",
        "The figure `scorelab run` writes: `out` (file), `x` (steps, nfe, n, "
        "delta or T), `y` (metric labels), `hue` (columns), `bounds` (labels, "
        "or true/false), `where` ({column = value(s)}), `title`, `xlabel`, "
        "`ylabel`, `fit` (fitted slopes), `fit_range` ([lo, hi]: fit slopes on "
        "lo <= x <= hi only; default the asymptotic window), `figsize` ([w, h] "
        "inches), `dpi`.",
        None,
        '[plot]\nout = "fig.png"\nhue = "scheme"\nwhere = {process = "VP"}',
    ),
    Key(
        "columns",
        "(output)",
        "-",
        "The columns of a result table: one row per (cell, replicate, metric); "
        "a study with an optimised grid adds "
        + ", ".join(f"`{c}`" for c in GRID_COLUMNS)
        + " after them.",
        _columns,
    ),
)

#: Complete study files, each checked by the test suite.
EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Full-covariance mixture, Monte Carlo metrics, replicates",
        """name = "mixture"
schemes = ["ei-sde", "dpm-solver++-2m"]
grids = "logsnr"
steps = [8, 16, 32]
n = 20000
replicates = 3
metrics = ["sliced_w2", "gelbrich_w2"]

[targets.mix]                  # a full-covariance Gaussian mixture
weights = [0.3, 0.7]
means = [[-2.0, 0.0], [2.0, 0.0]]
covs = [[[1.0, 0.5], [0.5, 1.0]], [[0.5, 0.0], [0.0, 0.2]]]
covariance_type = "full"
""",
    ),
    (
        "Score errors and exact metrics",
        """name = "errors"
schemes = "ei-sde"
steps = [10, 20, 40, 80]
init = "exact"
metrics = ["w2", "kl"]
score_errors = [
  "none",
  {name = "Bias", vector = 0.05, label = "bias 0.05"},
  {name = "Linear", matrix = 0.1, label = "linear 0.1"},
  {name = "Misspecified", other = "wide"},
]

[targets]
g = "gaussian-4d-aniso"
wide = {mean = [0, 0, 0, 0], cov = 1.2}
""",
    ),
    (
        "Sweeps and zips",
        """name = "sweeps"
steps = [10, 20, 40]
metrics = ["w2"]

[targets]
g = "gaussian-3d-aniso"
ring = "gmm-2d-8"

[[sweep]]                      # exact laws of the Gaussian, VP and VE
targets = ["g"]
processes = ["VP", "VE"]

[[sweep]]                      # the mixture: more particles at more steps
targets = ["ring"]
metrics = ["sliced_w2"]
n = [5000, 20000, 80000]
zip = [["steps", "n"]]
""",
    ),
    (
        "Equal evaluation budgets and explicit grids",
        """name = "budgets"
schemes = ["ei-sde", "heun", "dpm-solver++-3m"]
init = "exact"
metrics = ["w2"]

[targets]
g = "gaussian-8d-aniso"

[[sweep]]
grids = "logsnr"
nfe = [12, 24, 48]

[[sweep]]
grids = [[1.0, 0.5, 0.2, 0.05, 1e-3], [1.0, 0.3, 0.03, 1e-3]]

[plot]
x = "nfe"
hue = "scheme"
where = {grid = "logsnr"}
""",
    ),
    (
        "Exact laws at data scale",
        """name = "spectrum"
schemes = ["ei-sde", "heun", "rk4"]
grids = "logsnr"
steps = [50, 100, 200]
delta = [1e-4, 1e-3]
init = ["prior", "exact"]
metrics = ["w2", {name = "w2", label = "w2_data", reference = "data"}]

[targets]
img = {spectrum = "power-law", dim = 3072, alpha = 1.2}
""",
    ),
    (
        "Optimised grids on a Gaussian and on a mixture",
        """name = "optimized"
schemes = ["ei-sde", "dpm-solver++-2m"]
steps = [5, 10]
n = 20000

[targets]
g = "gaussian-10d-aniso"
ring = "gmm-2d-8"

[[sweep]]                      # exact W2 of the grid optimised for W2
targets = ["g"]
grids = ["logsnr", {kind = "ays", c = 0.5}, {kind = "optimized", maxiter = 20}]
metrics = ["w2"]

[[sweep]]                      # the mixture under the grid of its moment fit
targets = ["ring"]
grids = ["logsnr", {kind = "optimized", fit = "moments", label = "opt-moments"}]
metrics = ["sliced_w2"]
""",
    ),
)


def key_names() -> list[str]:
    """Names of the documented keys, in order."""
    return [k.name for k in KEYS]


def _find(name: str) -> Key:
    for k in KEYS:
        if k.name == name or k.name.split(".")[-1] == name:
            return k
    close = difflib.get_close_matches(name, key_names(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"no study key {name!r}{hint} (keys: {', '.join(key_names())})")


def _entry(k: Key, level: str = "###") -> str:
    lines = [f"{level} `{k.name}`", ""]
    lines.append(f"- type: {k.type}")
    lines.append(f"- default: {k.default}")
    if k.allowed is not None:
        values = list(k.allowed())
        lines.append("- allowed: " + (", ".join(f"`{v}`" for v in values) or "(none)"))
    lines += ["", k.text]
    if k.example:
        lines += ["", "```toml", k.example, "```"]
    return "\n".join(lines)


def explain(name: str) -> str:
    """The reference entry of one key (``scorelab run --explain KEY``).

    Parameters
    ----------
    name : str
        A key's path (``"grids"``, ``"plot"``, ``"targets.NAME.spectrum"``)
        or its last part (``"spectrum"``); ``""`` lists the keys.

    Raises
    ------
    ValueError
        For an unknown key (naming the closest one).
    """
    if not name:
        return "study keys: " + ", ".join(key_names())
    return _entry(_find(name), "")[1:].lstrip()


def markdown() -> str:
    """The whole reference as Markdown (``docs/study-format.md``)."""
    out = [
        "# Study files",
        "",
        "<!-- generated by `python -m scorelab.study.reference > "
        "docs/study-format.md`; edit python/scorelab/study/reference.py -->",
        "",
        "A study file is TOML. Its settings span a product of cells (with "
        "`zip` groups and `[[sweep]]` blocks); each cell runs `replicates` "
        "times and every (cell, replicate, metric) is one row of the result "
        "table. `scorelab run study.toml` runs it; `scorelab run --explain "
        "KEY` prints one entry of this page; a bad file is refused before any "
        "work, naming the key and the allowed values.",
        "",
        "## Keys",
        "",
    ]
    for k in KEYS:
        out += [_entry(k), ""]
    out += ["## Examples", ""]
    for title, text in EXAMPLES:
        out += [f"### {title}", "", "```toml", text.rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
