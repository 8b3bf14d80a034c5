"""VIP chunks: promoting the next candidates to VIPs behind the promotion gate."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.core.exceptions import InvalidTransition
from webapp.core.roles import Actor, recorded_user
from webapp.identities.models import Identity

from .. import selectors
from ..models import Chunk
from .guards import PromotionGateNotMet, serialise_writers
from .runs import jsonable

if TYPE_CHECKING:
    from webapp.review.models import Queue


@dataclasses.dataclass
class Promotion:
    chunk: Chunk
    identities: list[Identity]
    review_queue: Queue | None
    message: str


def chunk_promote(*, user: Actor = None, override_reason: str = "", size: int | None = None) -> Promotion:
    """Promote the next FACECURATOR_CHUNK_SIZE candidates (by popularity) to VIPs, as chunk N+1.

    The gate (:func:`selectors.gate_status`) must pass, unless an admin overrides it with a
    reason, which is recorded on the chunk with the metrics of the moment. Opens a review queue
    to verify the new VIPs' faces; the next step is a retrain.
    """
    from webapp.review.builders import queue_build_for_chunk

    size = size or settings.FACECURATOR_CHUNK_SIZE
    if size < 1:
        raise InvalidTransition("A chunk needs at least one identity.")
    override_reason = override_reason.strip()
    with transaction.atomic():
        serialise_writers()
        gate = selectors.gate_status()
        overridden = gate["required"] and not gate["passed"]
        if overridden and not override_reason:
            raise PromotionGateNotMet(
                f"The promotion gate is not met: {gate['reason']} Improve the current VIPs first, or override "
                f"with a reason.",
                extra={"gate": jsonable(gate)},
            )
        candidates = selectors.next_chunk_candidates(size=size)
        if not candidates:
            raise InvalidTransition("No candidate identities are left to promote.")
        number = selectors.chunk_next_number()
        ids = [identity.pk for identity in candidates]
        Identity.objects.filter(pk__in=ids).update(role=Identity.Role.VIP, chunk=number, updated_at=timezone.now())
        run = selectors.active_run()
        chunk = Chunk.objects.create(
            number=number,
            promoted_by=recorded_user(user),
            identities=[{"id": i.pk, "name": i.name, "popularity_rank": i.popularity_rank} for i in candidates],
            run=run,
            metrics=run.metrics if run else {},
            gate=jsonable(gate),
            overridden=overridden,
            override_reason=override_reason if overridden else "",
        )
        queue = queue_build_for_chunk(chunk=chunk, after_a_run=selectors.run_succeeded_exists())
    message = (
        f"Chunk {number}: {len(candidates)} new VIPs. Verify their faces in the review queue, then retrain "
        f"(Admin › Training › Start run)."
    )
    return Promotion(chunk=chunk, identities=candidates, review_queue=queue, message=message)
