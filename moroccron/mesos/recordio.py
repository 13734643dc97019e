"""RecordIO framing, as used by the Mesos v1 HTTP APIs for event streams.

A RecordIO stream is a sequence of records, each written as the decimal length of the
record in bytes, a newline, then exactly that many bytes::

    128\\n{"type": "SUBSCRIBED", ...}20\\n{"type":"HEARTBEAT"}

The framing is independent of the HTTP chunked transfer encoding that carries it: a
record may be split over several HTTP chunks and one chunk may hold several records,
so the reader has to be incremental. :class:`Decoder` keeps the partial record between
calls to :meth:`Decoder.feed`. Lengths count *bytes*, not characters, which is why the
decoder works on ``bytes`` and never decodes text itself (a multi-byte UTF-8 character
can straddle a chunk boundary).

Shared by the scheduler client (``moroccron.mesos.client``) and the local master
(``moroccron.mesos.local``).
"""

from __future__ import annotations

__all__ = ["MAX_RECORD_SIZE", "Decoder", "RecordIOError", "encode"]

#: Largest record the decoder accepts. A real master's OFFERS event for a big cluster is
#: a few megabytes; anything near this limit means the stream is corrupt, not big.
MAX_RECORD_SIZE = 256 * 1024 * 1024

# A length header longer than this many digits cannot be a valid length below
# MAX_RECORD_SIZE, so a stream that sends more digits without a newline is corrupt.
_MAX_HEADER_DIGITS = len(str(MAX_RECORD_SIZE))


class RecordIOError(ValueError):
    """The byte stream is not valid RecordIO (bad length header, record too large)."""


def encode(record: bytes) -> bytes:
    """Frame one record: ``b"<len>\\n" + record``."""
    if not isinstance(record, (bytes, bytearray, memoryview)):
        raise TypeError(f"RecordIO records are bytes, not {type(record).__name__}")
    data = bytes(record)
    return str(len(data)).encode("ascii") + b"\n" + data


class Decoder:
    """Incremental RecordIO decoder.

    Feed it the bytes as they arrive from the network, in pieces of any size; each call
    returns the records completed by that piece, in order. After a :class:`RecordIOError`
    the decoder is unusable (the stream position is lost), so the caller must drop the
    connection.
    """

    def __init__(self, max_record_size: int = MAX_RECORD_SIZE) -> None:
        self._buffer = bytearray()
        # Length of the record being read, once its header has been parsed.
        self._expected: int | None = None
        self._max = max_record_size
        self._failed: RecordIOError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a record."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data`` to the stream and return every record it completes."""
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        records: list[bytes] = []
        try:
            while True:
                if self._expected is None:
                    newline = self._buffer.find(b"\n")
                    if newline < 0:
                        self._check_partial_header()
                        break
                    self._expected = self._parse_header(bytes(self._buffer[:newline]))
                    del self._buffer[: newline + 1]
                if len(self._buffer) < self._expected:
                    break
                records.append(bytes(self._buffer[: self._expected]))
                del self._buffer[: self._expected]
                self._expected = None
        except RecordIOError as exc:
            self._failed = exc
            raise
        return records

    def _check_partial_header(self) -> None:
        header = bytes(self._buffer)
        if len(header) > _MAX_HEADER_DIGITS or (header and not header.isdigit()):
            raise RecordIOError(f"invalid RecordIO length header {header[:32]!r}")

    def _parse_header(self, header: bytes) -> int:
        # Mesos writes a bare decimal number; tolerate a trailing "\r" from hand-written
        # streams but nothing else, so that a desynchronised stream fails loudly.
        header = header.rstrip(b"\r")
        if not header.isdigit() or len(header) > _MAX_HEADER_DIGITS:
            raise RecordIOError(f"invalid RecordIO length header {header[:32]!r}")
        length = int(header)
        if length > self._max:
            raise RecordIOError(f"RecordIO record of {length} bytes exceeds the limit of {self._max}")
        return length
