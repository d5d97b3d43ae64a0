"""The read model every face reads: views of the engine's workflows, instances, breakpoints
and paused attempts (`ReadModel`), and how values are previewed."""

from __future__ import annotations

from .model import ReadModel, attempt_key, step_word
from .values import ValuePreview, short
from .views import (
    BLOCKED,
    NOT_STARTED,
    BreakpointView,
    InstanceSummary,
    InstanceView,
    PausedPage,
    PausedView,
    StepView,
    WorkflowView,
)

__all__ = ["ReadModel", "attempt_key", "step_word", "ValuePreview", "short", "BLOCKED", "NOT_STARTED",
           "BreakpointView", "InstanceSummary", "InstanceView", "PausedPage", "PausedView", "StepView",
           "WorkflowView"]
