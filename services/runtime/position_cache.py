"""Answers from a read model kept in memory while the model's position stays where it was when they were read.

Any event applied to the model — by this process or by a replica sharing the database — moves the position, and
the next lookup drops every kept answer. So a lookup costs one cheap read of the position (Database.quick_scalar)
instead of a query, and a change is still seen from the next lookup on every replica. Used by the gateway for the
principal behind a token (a logout or suspension counts at once) and by `domains` for "may O get N".
"""
from __future__ import annotations

from typing import Callable, Hashable


class PositionCache:
    MAX_ENTRIES = 10_000

    def __init__(self):
        self._position = -1
        self._answers: dict[Hashable, object] = {}

    def lookup(self, key: Hashable, position: int, load: Callable[[], object]):
        """The answer for `key` at `position`: kept, or `load()`ed and kept. None answers are not kept (unknown
        tokens cannot fill the cache)."""
        if position > self._position:
            self._answers, self._position = {}, position
        elif position < self._position:
            return load()            # a caller that read the position before another one moved it: no caching
        answers = self._answers
        if key in answers:
            return answers[key]
        answer = load()
        if answer is not None and self._position == position:
            if len(answers) >= self.MAX_ENTRIES:
                answers.pop(next(iter(answers)))
            answers[key] = answer
        return answer

    def __len__(self) -> int:
        return len(self._answers)
