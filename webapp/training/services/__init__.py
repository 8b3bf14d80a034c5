"""Writes on training: start a run, execute it (in the task), accept it, set the operating point,
promote the next VIP chunk.

A run freezes its inputs: the VIP set (class order) when it starts, and one :class:`RunSample`
per face with its label, split and version as its task's first step (one ``INSERT ... SELECT``).
The task trains from that snapshot, not from the live labels, so decisions made while it trains
never leak into it.

One module per step: ``guards`` (errors and the writers' lock), ``runs`` (start, restart,
cancel), ``execute`` (the task's work), ``results`` (what a finished run stores), ``acceptance``
(the active model and its operating point) and ``chunks`` (VIP promotion). The public entry
points are imported here, so callers write ``training.services.<name>``.
"""

from .acceptance import active_model_rollback, operating_point_set, training_run_accept
from .chunks import Promotion, chunk_promote
from .execute import training_run_execute
from .guards import NoActiveModel, PromotionGateNotMet, RunInProgress, RunNotAcceptable, RunNotRestartable
from .runs import (
    LOST_HINT,
    RUN_KIND,
    training_config_build,
    training_run_cancel,
    training_run_restart,
    training_run_snapshot,
    training_run_start,
)

__all__ = [
    "RunInProgress",
    "RunNotAcceptable",
    "RunNotRestartable",
    "PromotionGateNotMet",
    "NoActiveModel",
    "RUN_KIND",
    "LOST_HINT",
    "training_config_build",
    "training_run_start",
    "training_run_snapshot",
    "training_run_restart",
    "training_run_cancel",
    "training_run_execute",
    "training_run_accept",
    "active_model_rollback",
    "operating_point_set",
    "Promotion",
    "chunk_promote",
]
