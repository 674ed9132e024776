"""Summary statistics for latency samples: percentiles plus bootstrap confidence intervals."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_PERCENTILES = (50, 90, 95, 99)


def summarize(samples_ms: Sequence[float], *, confidence: float = 0.95, resamples: int = 1000,
              seed: int = 0, groups: Sequence[int] | None = None) -> dict:
    """Summarise latency samples (ms).

    Returns ``n, mean, std, min, max, p50, p90, p95, p99`` (numpy's default linear-interpolation
    percentiles) and percentile-bootstrap intervals ``p50_ci`` / ``p95_ci`` as ``[lo, hi]`` at
    ``confidence``. The bootstrap is vectorised: one ``(resamples, n)`` index matrix and one
    ``np.percentile`` call along axis 1. Intervals are widened, if need be, to contain the point
    estimate (the percentile bootstrap of a high quantile is biased low on small samples).

    ``groups`` (one id per sample, e.g. the process/round it came from) switches to a two-level
    bootstrap: rounds are resampled, then samples within them, because on a shared machine most of the
    variance is between processes, and an i.i.d. bootstrap would claim far more certainty than there is.
    """
    x = np.asarray(samples_ms, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("summarize() needs at least one sample")
    if not np.all(np.isfinite(x)):
        raise ValueError("summarize() got non-finite samples")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")

    n = int(x.size)
    pct = np.percentile(x, _PERCENTILES)
    out: dict = {
        "n": n,
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if n > 1 else 0.0,
        "min": float(x.min()),
        "max": float(x.max()),
    }
    for q, v in zip(_PERCENTILES, pct):
        out[f"p{q}"] = float(v)

    boot = _bootstrap(x, groups, resamples, np.random.default_rng(seed))  # shape (2, resamples)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=1)
    for row, name in enumerate(("p50", "p95")):
        point = out[name]
        out[f"{name}_ci"] = [float(min(lo[row], point)), float(max(hi[row], point))]
    out["confidence"] = confidence
    out["resamples"] = resamples
    out["unit"] = "ms"
    return out


_BOOT_CHUNK = 50  # resamples per vectorised block: bounds memory for long runs
_PER_GROUP = 1000  # samples drawn per resampled round


def _bootstrap(x: np.ndarray, groups: Sequence[int] | None, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """p50 and p95 of each bootstrap resample; two-level when groups are given."""
    if groups is not None:
        ids = np.asarray(groups).ravel()
        if ids.shape != x.shape:
            raise ValueError("groups needs one id per sample")
        members = [x[ids == g] for g in np.unique(ids)]
    else:
        members = [x]
    rounds = len(members)
    per_group = min(_PER_GROUP, min(len(m) for m in members)) if rounds > 1 else len(x)
    out = []
    for start in range(0, resamples, _BOOT_CHUNK):
        block = min(_BOOT_CHUNK, resamples - start)
        if rounds > 1:
            chosen = rng.integers(0, rounds, size=(block, rounds))
            draws = np.empty((block, rounds * per_group))
            for g, values in enumerate(members):
                picks = rng.integers(0, len(values), size=(block, rounds, per_group))
                sample = values[picks]  # (block, rounds, per_group)
                mask = chosen == g
                draws.reshape(block, rounds, per_group)[mask] = sample[mask]
        else:
            draws = x[rng.integers(0, len(x), size=(block, len(x)))]
        out.append(np.percentile(draws, [50, 95], axis=1))
    return np.concatenate(out, axis=1)
