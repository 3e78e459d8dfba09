"""The background thread that hears other workers' invalidations on Redis pub/sub."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

POLL_SECONDS = 0.05
"""How long one wait for a message lasts; bounds how long :meth:`stop` takes."""
INITIAL_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 1.0

logger = logging.getLogger(__name__)


class InvalidationSubscriber:
    """Listens on ``channel`` until stopped.

    A lost connection is retried with exponential backoff (``INITIAL_BACKOFF_SECONDS``
    doubling up to ``MAX_BACKOFF_SECONDS``), each time on a fresh subscription.

    Parameters
    ----------
    client
        The redis-py client whose pool lends the subscription its connection.
    channel
        The pub/sub channel.
    on_message
        Called on the subscriber thread with the raw bytes of each message; must not raise.
    on_subscribed
        Called on the subscriber thread each time the subscription is (re)established,
        before :meth:`wait_until_subscribed` returns ``True``.
    on_lost
        Called on the subscriber thread with the error that ended a live subscription, or
        with any unexpected error (failed reconnection attempts are only logged at debug).
    """

    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        *,
        on_message: Callable[[bytes], None],
        on_subscribed: Callable[[], None],
        on_lost: Callable[[Exception], None],
    ) -> None:
        self._client = client
        self._channel = channel
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._on_lost = on_lost
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="scenescout-cache-invalidations", daemon=True
        )

    def start(self) -> None:
        """Start listening on a daemon thread."""
        self._thread.start()

    def wait_until_subscribed(self, timeout: float | None = None) -> bool:
        """Block until the subscription is live; ``False`` if ``timeout`` seconds pass first."""
        return self._subscribed.wait(timeout)

    @property
    def is_subscribed(self) -> bool:
        """Whether the subscription is live now."""
        return self._subscribed.is_set()

    def stop(self) -> None:
        """Stop listening and wait for the thread (at most about ``POLL_SECONDS``)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        backoff = INITIAL_BACKOFF_SECONDS
        while not self._stopping.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self._channel)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=POLL_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._on_subscribed()
                        self._subscribed.set()
                        backoff = INITIAL_BACKOFF_SECONDS
                    elif message["type"] == "message":
                        self._on_message(message["data"])
            except redis.RedisError as error:
                if self._subscribed.is_set():
                    self._subscribed.clear()
                    logger.info("Invalidation subscription lost (%s); reconnecting", error)
                    self._on_lost(error)
                else:
                    logger.debug("Invalidation subscription failed (%s); retrying", error)
            except Exception as error:
                # Whatever broke, the thread must live on: without it L1 would go stale.
                self._subscribed.clear()
                logger.exception("Invalidation subscriber failed; reconnecting")
                self._on_lost(error)
            finally:
                pubsub.close()
            self._stopping.wait(backoff)
            backoff = min(2 * backoff, MAX_BACKOFF_SECONDS)
        self._subscribed.clear()
