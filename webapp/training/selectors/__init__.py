"""Reads on training: runs, the active model and its operating point, the promotion gate, status.

One module per concern: ``runs`` (runs and the active model), ``evaluation`` (a run's numbers from
its frozen samples), ``operating_point``, ``promotion`` (the gate and the next chunk) and
``status`` (what the dashboard shows). The public names are imported here, so callers write
``training.selectors.<name>``.
"""

from .evaluation import HEADLINE_SPLIT, SplitPredictions, run_evaluation, run_metrics_at, run_predictions, run_sweep
from .operating_point import (
    FAR_CHOICES,
    FarInputs,
    ThresholdChoice,
    operating_point_choose,
    operating_point_current,
    operating_point_estimate,
    operating_point_far_options,
    operating_point_rule,
    operating_point_rule_text,
    operating_point_state,
    operating_threshold,
    run_far_inputs,
    unknown_share_expected,
)
from .promotion import chunk_next_number, chunks_for_listing, gate_status, next_chunk_candidates, vips_current
from .runs import (
    HEAVY_FIELDS,
    RUN_KIND,
    active_model,
    active_model_confidence,
    active_model_previous,
    active_run,
    active_run_id,
    run_succeeded_exists,
    runs_for_listing,
    runs_unfinished,
)
from .status import curation_status, run_headline, run_key_metrics, runs_compare

__all__ = [
    "RUN_KIND",
    "HEAVY_FIELDS",
    "runs_for_listing",
    "runs_unfinished",
    "run_succeeded_exists",
    "active_model",
    "active_run",
    "active_model_previous",
    "active_run_id",
    "active_model_confidence",
    "SplitPredictions",
    "run_predictions",
    "run_sweep",
    "run_evaluation",
    "HEADLINE_SPLIT",
    "run_metrics_at",
    "operating_point_current",
    "operating_threshold",
    "operating_point_state",
    "FAR_CHOICES",
    "unknown_share_expected",
    "FarInputs",
    "run_far_inputs",
    "operating_point_estimate",
    "operating_point_far_options",
    "ThresholdChoice",
    "operating_point_choose",
    "operating_point_rule_text",
    "operating_point_rule",
    "vips_current",
    "gate_status",
    "next_chunk_candidates",
    "chunk_next_number",
    "chunks_for_listing",
    "run_headline",
    "run_key_metrics",
    "curation_status",
    "runs_compare",
]
