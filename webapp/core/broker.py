"""What the broker holds: the task ids of the messages it still has for some queues.

The job reaper asks it to find jobs whose message the broker lost: a Redis restarted without
persistence (or with its last second of writes unsaved) forgets every message waiting in a queue
and every message delivered but not yet acknowledged, and nothing tells the app. A job ``queued``
with a task id that the broker no longer holds would wait forever (:func:`webapp.core.services.jobs_reap`
sends it again).

Two transports can be asked: Redis (the queue lists, one per priority step, and the hash of
delivered, unacknowledged messages; ``global_keyprefix`` respected) and kombu's filesystem
transport (the message files of ``make demo``). Any other transport answers ``None``: unknown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from celery import current_app

logger = logging.getLogger(__name__)


def _task_id(message: object) -> str | None:
    """The task id of a kombu message as stored (a dict, or its JSON text); None if unreadable."""
    if isinstance(message, bytes | str):
        try:
            message = json.loads(message)
        except ValueError:
            return None
    if not isinstance(message, dict):
        return None
    headers = message.get("headers") or {}
    properties = message.get("properties") or {}
    task_id = headers.get("id") or properties.get("correlation_id")
    return str(task_id) if task_id else None


def _redis_task_ids(channel, queues: Iterable[str]) -> set[str]:
    import redis

    client = redis.Redis(connection_pool=channel.client.connection_pool)  # no kombu prefixing: done here
    prefix = getattr(channel, "global_keyprefix", "") or ""
    keys = {f"{prefix}{channel._q_for_pri(queue, step)}" for queue in queues for step in channel.priority_steps}
    found: set[str] = set()
    with client.pipeline(transaction=False) as pipe:
        for key in sorted(keys):
            pipe.lrange(key, 0, -1)
        pipe.hvals(f"{prefix}{channel.unacked_key}")
        *waiting, delivered = pipe.execute()
    for raw in (item for items in waiting for item in items):
        if task_id := _task_id(raw):
            found.add(task_id)
    for raw in delivered:  # [message, exchange, routing key]
        try:
            message = json.loads(raw)[0]
        except (ValueError, IndexError, TypeError):
            continue
        if task_id := _task_id(message):
            found.add(task_id)
    return found


def _filesystem_task_ids(channel, queues: Iterable[str]) -> set[str]:
    folder = Path(channel.data_folder_in)
    found: set[str] = set()
    for queue in queues:
        for path in folder.glob(f"*.{queue}.msg"):
            try:
                task_id = _task_id(path.read_bytes())
            except OSError:  # taken by a worker meanwhile
                continue
            if task_id:
                found.add(task_id)
    return found


def broker_task_ids(*, queues: Iterable[str]) -> set[str] | None:
    """The ids of the tasks whose messages the broker holds for ``queues``: waiting in a queue, or
    delivered to a worker and not yet acknowledged (tasks acknowledge late, so a running task's
    message counts). ``None`` when the transport cannot be asked or the broker does not answer."""
    queues = sorted(set(queues))
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.default_channel
            transport = connection.transport.driver_type
            if transport == "redis":
                return _redis_task_ids(channel, queues)
            if transport == "filesystem":
                return _filesystem_task_ids(channel, queues)
    except Exception:  # noqa: BLE001 - the broker down or odd: nothing can be said, nothing is re-sent
        logger.warning("could not list the broker's messages", exc_info=True)
        return None
    return None
