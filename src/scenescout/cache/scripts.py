"""Lua scripts run in pipelines without a ``SCRIPT EXISTS`` round trip."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import redis
from redis.commands.core import Script

ScriptCall = tuple[Sequence[Any], Sequence[Any]]
"""The keys and the arguments of one call of a script."""


def run_in_pipeline(client: redis.Redis, script: Script, calls: Iterable[ScriptCall]) -> list[Any]:
    """Run ``script`` once per ``(keys, args)`` of ``calls``, in one pipeline; the replies.

    A pipeline that runs a registered script asks Redis first whether it knows it: a round
    trip per pipeline. Here each call goes out as ``EVALSHA`` at once; only a server that
    lost the script (restarted, flushed) answers ``NOSCRIPT``, and then the script is loaded
    and the whole pipeline sent again, so the script must be safe to run twice.

    Raises
    ------
    redis.RedisError
        When Redis fails, or a call fails.
    """
    calls = list(calls)
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            if attempt == 2:
                raise
            client.script_load(script.script)
    raise AssertionError("unreachable")
