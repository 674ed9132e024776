"""Compare an exported model's logits with the reference (torch) logits."""
from __future__ import annotations

from typing import Any

import numpy as np

from edgeprune.errors import StageError


def fp32_parity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """Worst absolute and relative logit differences: an fp32 export should match torch almost exactly.

    Relative difference is |a-b| / max(|a|, 1e-6) elementwise, so near-zero logits do not blow it up to inf.
    """
    ref, cand = _pair(reference, candidate)
    diff = np.abs(ref - cand)
    denom = np.maximum(np.abs(ref), 1e-6)
    return {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "max_rel_diff": float((diff / denom).max()) if diff.size else 0.0,
        "samples": int(ref.shape[0]),
    }


def int8_parity(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1 agreement and accuracies: int8 logits drift by design, so what matters is the decision."""
    ref, cand = _pair(reference, candidate)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != ref.shape[0]:
        raise StageError(f"int8 parity: {labels.shape[0]} labels for {ref.shape[0]} samples")
    n = int(ref.shape[0])
    if n == 0:
        raise StageError("int8 parity: no samples to compare")
    ref_top, cand_top = ref.argmax(axis=1), cand.argmax(axis=1)
    err = np.abs(ref - cand)
    return {
        "top1_agreement": float(np.mean(ref_top == cand_top)),
        "accuracy": float(np.mean(cand_top == labels)),
        "reference_accuracy": float(np.mean(ref_top == labels)),
        "mean_abs_logit_error": float(err.mean()),
        "max_abs_logit_error": float(err.max()),
        "samples": n,
    }


def _pair(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.ndim == 1:
        ref, cand = ref[None, :], cand.reshape(1, -1)
    ref = ref.reshape(ref.shape[0], -1)
    cand = cand.reshape(cand.shape[0], -1) if cand.ndim else cand
    if ref.shape != cand.shape:
        raise StageError(f"parity: reference logits {ref.shape} and candidate logits {cand.shape} differ in shape")
    return ref, cand
