"""Building review queues: from a finished training run (:mod:`.run`), and from a chunk promotion
(:mod:`.chunk`); :mod:`.ranking` holds what both order their items by.

Every queue is sorted most-likely-wrong first by its items' ``score`` and holds at most
FACECURATOR_REVIEW_MAX_ITEMS items. Faces a person verified are left out unless their label
changed since (:func:`webapp.review.selectors.faces_verified_unchanged`).
"""

from .chunk import queue_build_for_chunk
from .ranking import MIN_P_WRONG, label_error_scores
from .run import RunOutcome, queues_build_for_run

__all__ = ["MIN_P_WRONG", "RunOutcome", "label_error_scores", "queue_build_for_chunk", "queues_build_for_run"]
