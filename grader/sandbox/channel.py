"""Framed messages between the judge and the learner process, over a pair of pipes.

A frame is an 8-byte little-endian length and a plain-data payload (grader.plain_data):
nothing on either side is ever unpickled. Reads have deadlines, so a learner that stops
answering costs a timeout, not a hung grader.
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


def send(fd: int, message) -> None:
    data = encode(message)
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def receive(fd: int, deadline: float | None = None):
    """The next message; TimeoutError past `deadline` (a time.monotonic() value)."""
    (length,) = struct.unpack("<Q", _read_exactly(fd, 8, deadline))
    if length > MAX_FRAME:
        raise ChannelClosed(f"message of {length} bytes is larger than allowed")
    return decode(_read_exactly(fd, length, deadline))


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, missing = [], n
    while missing:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise ChannelClosed("the learner process closed the channel")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
