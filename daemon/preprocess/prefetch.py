"""Decode and normalise audio on CPU worker threads ahead of the model (PP-1's prefetch).

`prefetch(items, load, workers, ahead)` yields `(item, result_or_error)` in the input order while
up to `ahead` items are decoded in the background, so the model never waits on file I/O,
decoding or resampling. numpy, soundfile and soxr release the GIL, so threads really overlap.
`batched(stream, size, key)` groups what comes out into batches of one key (clips of one length).
"""
from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar
from collections.abc import Callable, Iterable, Iterator

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def prefetch(
    items: Iterable[Item], load: Callable[[Item], Result], *, workers: int = 2, ahead: int = 4,
) -> Iterator[tuple[Item, Result | Exception]]:
    """Yield `(item, load(item))` in order, or `(item, exception)` when loading raised.

    Closing the generator early (a stop request) cancels what has not started yet."""
    pending: deque[tuple[Item, Future]] = deque()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="preprocess-decode") as pool:
        try:
            _fill(pending, source, pool, load, ahead)
            while pending:
                item, future = pending.popleft()
                try:
                    result: Result | Exception = future.result()
                except Exception as err:  # reported per file by the caller, never fatal
                    result = err
                _fill(pending, source, pool, load, ahead)
                yield item, result
        finally:
            for _, future in pending:
                future.cancel()


def _fill(pending: deque, source: Iterator, pool: ThreadPoolExecutor, load: Callable, ahead: int) -> None:
    while len(pending) < max(1, ahead):
        try:
            item = next(source)
        except StopIteration:
            return
        pending.append((item, pool.submit(load, item)))


def batched(
    stream: Iterable[tuple[Item, Result | Exception]], size: int, key: Callable[[Result], object],
) -> Iterator[list[tuple[Item, Result | Exception]]]:
    """Group consecutive results with the same `key` (not None) into lists of at most `size`;
    errors and results whose key is None come alone. Order is kept."""
    batch: list[tuple[Item, Result | Exception]] = []
    batch_key: object = None
    for item, result in stream:
        if isinstance(result, Exception) or (k := key(result)) is None:
            if batch:
                yield batch
                batch = []
            yield [(item, result)]
            continue
        if batch and (k != batch_key or len(batch) >= size):
            yield batch
            batch = []
        batch.append((item, result))
        batch_key = k
    if batch:
        yield batch
