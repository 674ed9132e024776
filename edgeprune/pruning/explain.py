"""The prunability report as text: what `edgeprune prune --explain` prints."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any


def render_summary(models: dict[str, Any], build_dir: Path) -> str:
    """One line: parameters and MACs before and after, and where the plan is."""
    teacher, pruned = models["teacher"], models["pruned"]
    groups = pruned.get("prunability", [])
    line = (f"pruned ({pruned.get('mode', 'structured')}): params {teacher['params']['value']:,} -> "
            f"{pruned['params']['value']:,}, MACs {teacher['macs']['value']:,} -> {pruned['macs']['value']:,}")
    if groups:
        line += f", {sum(g['pruned'] for g in groups)} of {len(groups)} layer groups pruned"
    if "unstructured" in pruned:
        line += f", {pruned['unstructured']['sparsity']:.1%} of conv/linear weights zero"
    return f"{line}; plan: {build_dir / 'plan.json'}"


def render_prunability(groups: list[dict[str, Any]], width: int = 110) -> str:
    """A table, one group a row: its root layer, channels before -> after, and the coupled layers or the reason."""
    if not groups:
        return "no prunability report (unstructured pruning removes no channels)"
    rows = [f"{'group (root layer)':34} {'channels':>12}  coupled layers / why not pruned"]
    for group in groups:
        channels = f"{group['channels_before']} -> {group['channels_after']}"
        detail = ", ".join(group["layers"]) if group["pruned"] else f"NOT PRUNED: {group['reason']}"
        lines = textwrap.wrap(detail, width=max(40, width - 50)) or [""]
        rows.append(f"{group['root'][:34]:34} {channels:>12}  {lines[0]}")
        rows += [f"{'':34} {'':>12}  {line}" for line in lines[1:]]
    return "\n".join(rows)
