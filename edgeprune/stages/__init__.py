"""The build's stages in order; each is a pipeline.Stage over files in the build folder."""
from __future__ import annotations

from .bench import BENCH
from .distill import DISTILL
from .export import EXPORT
from .prune import PRUNE
from .teacher import TEACHER

BUILD_STAGES = [TEACHER, PRUNE, DISTILL, EXPORT, BENCH]

__all__ = ["BUILD_STAGES"]
