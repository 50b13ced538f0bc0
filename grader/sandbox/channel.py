"""Framed messages between the judge and the learner process, over a pair of pipes.

A frame is an 8-byte little-endian length and a plain-data payload (grader.plain_data):
nothing on either side is ever unpickled. The judge's CPU time spent decoding a reply is
charged to the test's deadline, so a reply that is slow to decode costs the learner's time. The judge's reads and writes have deadlines, so a
learner that stops answering, or stops reading, costs a timeout, not a hung grader.
"""

from __future__ import annotations

import os
import select
import struct
import time

from grader.sandbox.plain_data import decode, encode

MAX_FRAME = 512 * 1024 * 1024


class ChannelClosed(EOFError):
    """The other end went away (the learner process died or closed its pipe)."""


POLL_SECONDS = 0.25  # how often a deadline that counts CPU time is looked at again while waiting


def send(fd: int, message, deadline=None) -> None:
    """Write one message; with a deadline (on a non-blocking `fd`), TimeoutError when the reader stops reading."""
    data = encode(message)
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        if deadline is not None:
            _wait(fd, deadline, writing=True)
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[written:]


def receive(fd: int, deadline=None):
    """The next message; TimeoutError past `deadline`.

    A deadline is a time.monotonic() value, or an object whose `left()` says how many seconds
    are left (grader.sandbox.deadline.Deadline, which counts the learner's CPU time).
    """
    (length,) = struct.unpack("<Q", _read_exactly(fd, 8, deadline))
    if length > MAX_FRAME:
        raise ChannelClosed(f"message of {length} bytes is larger than allowed")
    data = _read_exactly(fd, length, deadline)
    started = time.process_time()
    try:
        return decode(data)
    finally:
        if hasattr(deadline, "charge"):  # the judge's time decoding what the learner sent counts as the learner's
            deadline.charge(time.process_time() - started)


def _left(deadline) -> float:
    return deadline.left() if hasattr(deadline, "left") else deadline - time.monotonic()


def _wait(fd: int, deadline, writing: bool = False) -> None:
    """Until `fd` can be read (or written), or TimeoutError once the deadline has passed."""
    while True:
        left = _left(deadline)
        if left <= 0:
            raise TimeoutError
        ready = select.select([], [fd], [], min(left, POLL_SECONDS)) if writing else select.select([fd], [], [], min(left, POLL_SECONDS))
        if ready[1 if writing else 0]:
            return


def _read_exactly(fd: int, n: int, deadline) -> bytes:
    chunks, missing = [], n
    while missing:
        if deadline is not None:
            _wait(fd, deadline)
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise ChannelClosed("the learner process closed the channel")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
