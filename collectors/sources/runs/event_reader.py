"""Incremental reader for TensorBoard event files (TFRecord framing, ``Event`` protos).

Each file is read from the byte offset where the previous poll stopped, so a poll with nothing
new costs one ``stat``. Only complete records are consumed: a record cut off by a writer that is
still flushing is retried from the same offset next time and never reported as corruption.

Framing: ``uint64 length | uint32 masked_crc32c(length) | payload | uint32 masked_crc32c(payload)``.

Decoding has two paths:

* a vectorised fast path (numpy) for the plain scalar records that tensorboardX writes,
  ``Event{wall_time, step, summary{value{tag, simple_value}}}``, recognised byte for byte. The
  framing finds runs of back-to-back records of one length (one tag, one step width) as
  ``(offset, length, count)``, comparing their length fields as one strided view; a run is
  checked against its first record in the few 8-byte words that must be equal (field keys, the
  step varint's continuation bits, the tag and its framing) and decoded through strided views,
  with no per-record Python and no list of offsets. Records outside such runs are recognised
  with gathers;
* a slow path through ``tensorboard.compat.proto.event_pb2`` for anything else (histograms,
  tensor scalars, step 0, long tags). Non-scalar values are skipped.

A corrupt region (garbage, zeros, a bad length) is skipped by resynchronising on the next offset
whose length CRC is valid; it is reported once per file and the good data after it is kept.
Payload CRCs are checked only with ``verify_crc=True`` (see the README for the measurements behind
that default).

Hostile files never block a poll nor take the reader down: only regular files are opened (a FIFO
or a device named like an event file is reported, never read), at most :data:`MAX_READ_PER_POLL`
bytes are read per file and poll (the rest on the next polls), holes of a sparse file are skipped
with ``SEEK_DATA`` and zero-filled regions with one vectorised pass, a length whose CRC is valid but
that claims more bytes than the file holds while a sound record follows inside it is corruption
(not a record still being written), and points whose wall time is not a plausible unix time (NaN,
1e300: one flipped exponent bit) or whose tensor value cannot be decoded are skipped and counted.
"""

from __future__ import annotations

import errno
import functools
import math
import os
import re
import stat
import struct
from dataclasses import dataclass, field

import numpy as np

from collectors.sources.runs.series import ScalarSeries

try:  # a native CRC32C, about 1 us a record from Python
    import google_crc32c as _gcrc

    def crc32c(data: bytes) -> int:
        return _gcrc.value(data)

    NATIVE_CRC = True
except ImportError:  # pragma: no cover - depends on the environment
    NATIVE_CRC = False

    def _make_table() -> list[int]:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
        return table

    _TABLE = _make_table()

    def crc32c(data: bytes) -> int:
        c = 0xFFFFFFFF
        for b in data:
            c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
        return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
HEADER = 12  # length + length CRC
FOOTER = 4  # payload CRC
MAX_RECORD = 64 << 20  # no sane event is larger; a bigger length is corruption
CHUNK = 4 << 20  # bytes read and decoded at a time (bounds memory on huge files)
MAX_READ_PER_POLL = 512 << 20  # bytes read from one file in one poll; the rest comes next poll
SPARSE_CHECK = 1 << 20  # holes are looked for (SEEK_DATA) only when this much is left to read
SUSPECT_LENGTH = 1 << 20  # a cut-off record claiming more than this is checked for a bogus length
# Plausible wall times: unix seconds from 1970 to about the year 5000 (1e300 is a flipped bit).
WALL_MIN, WALL_MAX = 0.0, 1e11
_O_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)

EVENT_FILE_RE = re.compile(r"events\.out\.tfevents\.(\d+)")


def _require_regular(path: str, st: os.stat_result) -> None:
    """Raise OSError(EINVAL) unless ``st`` is a regular file: a FIFO would block a read for
    good, a device (``/dev/zero``) never ends."""
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, device or socket): not read", path)


def event_file_order(name: str) -> tuple[int, str]:
    """Sort key for event files of one directory: creation epoch in the name, then the name."""
    m = EVENT_FILE_RE.search(name)
    return (int(m.group(1)) if m else 0, name)


@dataclass(slots=True)
class Batch:
    """Points decoded from one read of one file, grouped by tag, in file order per tag."""

    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    records: int = 0
    points: int = 0


class EventFileReader:
    """Reads one event file incrementally. Owns no series: callers merge the batches."""

    __slots__ = (
        "path",
        "offset",
        "inode",
        "size",
        "verify_crc",
        "corrupt_regions",
        "corrupt_bytes",
        "records",
        "restarts",
        "slow_records",
        "_stuck_size",
        "_corrupt",
        "bad_wall",
        "bad_values",
        "tail_bytes",
        "behind",
    )

    def __init__(self, path: str, verify_crc: bool = False) -> None:
        self.path = path
        self.offset = 0
        self.inode = -1
        self.size = 0
        self.verify_crc = verify_crc
        self._corrupt: str | None = None  # the corruption message, kept current
        self.bad_wall = 0  # points skipped: wall time NaN, infinite or not a plausible unix time
        self.bad_values = 0  # tensor values that could not be decoded (e.g. 2-byte content)
        self.tail_bytes = 0  # bytes after the last complete record (a cut-off or pending tail)
        self.behind = False  # the last poll stopped at MAX_READ_PER_POLL: more to read
        self.corrupt_regions = 0
        self.corrupt_bytes = 0
        self.records = 0
        self.restarts = 0  # times the file was replaced or truncated under us
        self._stuck_size = -1  # file size at which the last read could not move on
        self.slow_records = 0  # records decoded through protobuf (not plain scalars)

    @property
    def error(self) -> str | None:
        """One message for the file: corruption skipped, points that could not be kept."""
        parts = [self._corrupt] if self._corrupt else []
        if self.bad_wall:
            parts.append(
                f"{self.path}: {self.bad_wall} point(s) with an impossible wall time skipped"
            )
        if self.bad_values:
            parts.append(f"{self.path}: {self.bad_values} undecodable tensor value(s) skipped")
        return "; ".join(parts) if parts else None

    def poll(self, st: os.stat_result | None = None) -> Batch | None:
        """Read what was appended since the last poll. None when nothing changed.

        Raises OSError (FileNotFoundError, PermissionError, or EINVAL for a file that is not a
        regular file: a FIFO or a device is never opened) for the caller to report.
        """
        if st is None:
            st = os.stat(self.path)
        _require_regular(self.path, st)
        if st.st_ino != self.inode or st.st_size < self.offset:
            if self.inode != -1:
                self.restarts += 1
            self.inode = st.st_ino
            self.offset = 0
            self._stuck_size = -1
        self.size = st.st_size
        if st.st_size == self.offset or st.st_size == self._stuck_size:
            return None  # nothing new, or only the same cut-off tail as last time
        batch = Batch()
        fd = os.open(self.path, _O_FLAGS)  # O_NONBLOCK: a FIFO swapped in cannot block us
        budget = MAX_READ_PER_POLL
        self.behind = False
        try:
            # No fstat: a FIFO or device swapped in after the stat cannot block (O_NONBLOCK) nor
            # run on (at most the regular file's size, and the budget, is read).
            remaining = st.st_size - self.offset
            want = CHUNK
            while remaining > 0:
                hole = self._skip_hole(fd, remaining)
                if hole:
                    self.offset += hole
                    remaining -= hole
                    continue
                if budget <= 0:
                    self.behind = True
                    break
                data = os.pread(fd, min(remaining, want), self.offset)
                if not data:
                    break
                budget -= len(data)
                at_eof = len(data) == remaining
                consumed = self._decode(data, batch, at_eof)
                if consumed == 0 and not at_eof:
                    # One record larger than a chunk: read at least that much next time.
                    length = _U64.unpack_from(data, 0)[0] if len(data) >= 8 else 0
                    if want < length + HEADER + FOOTER <= MAX_RECORD + HEADER + FOOTER:
                        want = length + HEADER + FOOTER
                        continue
                if consumed == 0:
                    break
                self.offset += consumed
                remaining -= consumed
        finally:
            os.close(fd)
        stuck = self.offset < st.st_size and not self.behind
        self._stuck_size = st.st_size if stuck else -1
        self.tail_bytes = st.st_size - self.offset if stuck else 0
        return batch

    def _skip_hole(self, fd: int, remaining: int) -> int:
        """Bytes of a hole (a sparse file's unwritten region: zeros, no blocks) at the offset,
        skipped without reading them and reported as corruption. 0 when data is there."""
        if remaining < SPARSE_CHECK or not hasattr(os, "SEEK_DATA"):
            return 0  # a poll of a live file reads a few records: no syscall for them
        try:
            data = os.lseek(fd, self.offset, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:  # a filesystem without SEEK_DATA: read everything
                return 0
            data = self.offset + remaining  # no data after the offset: a hole to the end
        hole = min(data - self.offset, remaining)
        if hole < 4096:  # not worth it (and a tail being written is never a hole)
            return 0
        self._report_corruption(0, hole, what="zero-filled (sparse) region")
        return hole

    # -- framing ---------------------------------------------------------------------------------

    def _decode(self, buf: bytes, batch: Batch, at_eof: bool) -> int:
        """Decode complete records of ``buf``; return bytes consumed (a cut-off tail excluded)."""
        pos = 0
        while True:
            runs, end = self._frame(buf, pos, at_eof)
            if not runs:
                return end
            total = sum(r[2] for r in runs)
            bad = _decode_records(buf, runs, total, batch, self)
            good = total if bad is None else bad[0]
            self.records += good
            batch.records += good
            if bad is None:
                return end
            # A record that decodes to nothing valid: skip just it when its header is sound,
            # else the length was garbage too and we resynchronise byte by byte.
            _, at, length = bad
            if self._header_ok(buf, at):
                self._report_corruption(at, at + HEADER + length + FOOTER)
                pos = at + HEADER + length + FOOTER
            else:
                nxt = self._resync(buf, at, at_eof)
                if nxt is None:
                    return at
                pos = nxt

    def _frame(self, buf: bytes, pos: int, at_eof: bool) -> tuple[list[Run], int]:
        """Find record boundaries from ``pos``. Runs of same-length records are found in bulk.

        Returns the records as runs ``(offset, payload length, count)`` of back-to-back records
        of one length (no list of offsets), and the position after the last complete record.
        """
        n = len(buf)
        runs: list[Run] = []
        probe = n  # first guess: the whole buffer is one run
        unpack = _U64.unpack_from
        while pos + HEADER <= n:
            length = unpack(buf, pos)[0]
            end = pos + HEADER + length + FOOTER
            plausible = 0 < length <= MAX_RECORD
            if plausible and end > n and (not at_eof or self._header_ok(buf, pos)):
                if not (at_eof and length > SUSPECT_LENGTH and self._sound_after(buf, pos)):
                    break  # continues in the next chunk, or is still being written: retry
                # A length with a valid CRC that claims more than the file holds, with a sound
                # record inside what it claims: a bogus length, not a record being written.
                nxt = self._resync(buf, pos, at_eof)
                if nxt is None:
                    break
                pos = nxt
                continue
            if not plausible or end > n:  # garbage: find the next sound record
                pos = self._back_up(buf, runs, pos)
                nxt = self._resync(buf, pos, at_eof)
                if nxt is None:
                    break
                pos = nxt
                continue
            stride = end - pos
            # Speculate that the next records have the same length (one tag, same step width),
            # when the next one does (one unpack; the header record, a change of step width or
            # interleaved tags cost no numpy call).
            k = min(probe, (n - pos) // stride)
            count = 1
            if k >= 4 and unpack(buf, end)[0] == length:
                # The length fields of the next k records, as a strided view (no copy).
                got = np.ndarray((k,), "<u8", buf, pos, (stride,))
                bad = np.flatnonzero(got != length)
                run = int(bad[0]) if len(bad) else k
                count = run
                probe = min(probe * 4, 1 << 16) if run == k else 1024
            if runs:
                s0, l0, c0 = runs[-1]
                if l0 == length and s0 + c0 * stride == pos:  # continues the last run
                    runs[-1] = (s0, l0, c0 + count)
                    pos += count * stride
                    continue
            runs.append((pos, length, count))
            pos += count * stride
        return runs, pos

    def _back_up(self, buf: bytes, runs: list[Run], pos: int) -> int:
        """Garbage at ``pos``: if the record before it has a bad length CRC, that bogus length is
        what led here, so the corruption starts there. Returns where the corruption starts."""
        while runs:
            start, length, count = runs[-1]
            stride = HEADER + length + FOOTER
            last = start + (count - 1) * stride
            if last + stride != pos or self._header_ok(buf, last):
                break
            pos = last
            if count == 1:
                runs.pop()
            else:
                runs[-1] = (start, length, count - 1)
        return pos

    def _header_ok(self, buf: bytes, pos: int) -> bool:
        if pos + HEADER > len(buf):
            return False
        return masked_crc32c(buf[pos : pos + 8]) == _U32.unpack_from(buf, pos + 8)[0]

    def _payload_ok(self, buf: bytes, pos: int, length: int) -> bool:
        p = pos + HEADER
        if p + length + FOOTER > len(buf):
            return False
        return masked_crc32c(buf[p : p + length]) == _U32.unpack_from(buf, p + length)[0]

    def _sound_after(self, buf: bytes, pos: int) -> bool:
        """Whether a complete record with valid length and payload CRCs starts after ``pos``."""
        return self._next_sound(buf, pos + 1, complete=True) is not None

    def _next_sound(self, buf: bytes, pos: int, complete: bool = False) -> int | None:
        """The first offset from ``pos`` whose length field has a valid CRC and whose payload
        CRC is valid when the record is complete (``complete``: it must be)."""
        n = len(buf)
        arr = np.frombuffer(buf, np.uint8)
        if n - pos < HEADER:
            return None
        # Zeros (a zero-filled tail, a preallocated region) skipped in one pass: a sound header
        # has a non-zero byte in its low four length bytes.
        seg = arr[pos : n - 4] != 0
        first = int(seg.argmax()) if len(seg) else 0
        if not len(seg) or not seg[first]:
            return None
        pos = max(pos, pos + first - 3)
        if n - pos < HEADER:
            return None
        m = n - HEADER + 1 - pos
        hi = np.zeros(m, bool)
        lo = np.zeros(m, bool)
        for j in range(8):
            (hi if j >= 4 else lo).__ior__(arr[pos + j : pos + j + m] != 0)
        for c in (np.flatnonzero(~hi & lo) + pos).tolist():
            if not self._header_ok(buf, c):
                continue
            length = _U64.unpack_from(buf, c)[0]
            if length > MAX_RECORD:
                continue
            whole = c + HEADER + length + FOOTER <= n
            if complete and not whole:
                continue
            if whole and not self._payload_ok(buf, c, length):
                continue
            return c
        return None

    def _resync(self, buf: bytes, pos: int, at_eof: bool) -> int | None:
        """Skip a corrupt region: the next offset whose length field has a valid CRC (and whose
        payload CRC is valid too when the record is complete). None: nothing valid yet."""
        n = len(buf)
        start = pos
        pos += 1
        c = self._next_sound(buf, pos)
        if c is not None:
            self._report_corruption(start, c)
            return c
        if not at_eof:
            # The next good record starts in the next chunk: skip what is certainly bad.
            skip_to = max(start + 1, n - HEADER + 1)
            self._report_corruption(start, skip_to)
            return skip_to
        # Garbage up to what has been written so far. A writer may still append a valid record
        # after it, so keep the offset and look again when the file grows; report it now.
        self._report_corruption(start, n, pending=True)
        return None

    def _report_corruption(
        self, start: int, end: int, pending: bool = False, what: str = "corrupt region"
    ) -> None:
        a, b = self.offset + start, self.offset + end
        if pending:
            if self._corrupt is None:
                self._corrupt = f"{self.path}: corrupt data at bytes {a}-{b}"
            return
        self.corrupt_regions += 1
        self.corrupt_bytes += b - a
        self._corrupt = (
            f"{self.path}: {self.corrupt_regions} corrupt region(s) skipped,"
            f" {self.corrupt_bytes} bytes (last at bytes {a}-{b}: {what})"
        )


# -- record decoding ---------------------------------------------------------------------------

_SLOW_PROTO = None


def _event_pb2():
    global _SLOW_PROTO
    if _SLOW_PROTO is None:
        from tensorboard.compat.proto import event_pb2  # deferred: ~100 ms of imports

        _SLOW_PROTO = event_pb2
    return _SLOW_PROTO


Run = tuple[int, int, int]  # (offset of the first record, payload length, records back to back)
# A chunk of one tag's points: (record indices, steps, values, wall times). The indices (their
# order across chunks) are a range for a uniform run, an array otherwise.
Chunk = tuple[range | np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Parts = dict[str, list[Chunk]]
Word = tuple[int, np.uint64, bool]  # (offset in a record, mask, the whole word)
_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)


def _decode_records(
    buf: bytes, runs: list[Run], total: int, batch: Batch, reader: EventFileReader
) -> tuple[int, int, int] | None:
    """Decode the framed records (``runs``, ``total`` records in all) into ``batch``.

    Returns None when every record was sound, else (index, offset, payload length) of the first
    record that is not a valid event; only the records before it are added to ``batch``.
    """
    parts: Parts = {}
    rest: list[tuple[int, Run]] = []  # (index of the run's first record, run)
    # Runs of back-to-back records of one length are, in practice, one tag with one step width:
    # checked against the first record in the bytes that cannot differ, decoded with strided
    # views (no gathering, no per-record work).
    base = 0
    for run in runs:
        if run[2] < 4 or not _decode_uniform(buf, run, base, parts, reader):
            rest.append((base, run))
        base += run[2]
    bad = None
    if rest:
        recs = sum(r[2] for _, r in rest)
        if recs <= FEW:  # a poll of a live run: a record or two per file
            few = [
                (b + j, s + j * (HEADER + ln + FOOTER), ln)
                for b, (s, ln, c) in rest
                for j in range(c)
            ]
            few = _decode_few(buf, few, parts, reader)
            if few:  # not plain scalars (the header record, a histogram): protobuf for those
                g, o, ln = (np.array(x, np.int64) for x in zip(*few, strict=True))
                reader.slow_records += len(few)
                bad = _decode_slow(buf, o, ln, g, parts, reader)
        else:
            g = np.concatenate([np.arange(b, b + c) for b, (_, _, c) in rest])
            o = np.concatenate(
                [
                    np.arange(s, s + c * (HEADER + ln + FOOTER), HEADER + ln + FOOTER)
                    for _, (s, ln, c) in rest
                ]
            )
            ln = np.concatenate([np.full(c, ln_, np.int64) for _, (_, ln_, c) in rest])
            bad = _decode_general(buf, o, ln, g, parts, reader)

    cut = None if bad is None else bad[0]
    for tag, chunks in parts.items():
        if cut is not None:
            chunks = [_before(c, cut) for c in chunks]
            chunks = [c for c in chunks if len(c[1])]
            if not chunks:
                continue
        if len(chunks) == 1:
            _, st, v, w = chunks[0]
        else:
            st, v, w = _in_record_order(chunks)
        if not _walls_ok(w):
            ok = (w >= WALL_MIN) & (w < WALL_MAX)
            reader.bad_wall += int(len(ok) - ok.sum())
            st, v, w = st[ok], v[ok], w[ok]
            if not len(st):
                continue
        prev = batch.series.get(tag)
        if prev is not None:
            st, v, w = (np.concatenate([x, y]) for x, y in zip(prev, (st, v, w), strict=True))
        batch.series[tag] = (st, v, w)
        batch.points += len(st) - (len(prev[0]) if prev is not None else 0)
    return bad


def _before(c: Chunk, cut: int) -> Chunk:
    """The points of a chunk from records before index ``cut``."""
    idx = c[0]
    if isinstance(idx, range):
        keep = max(0, min(len(idx), cut - idx.start))
        return (idx[:keep], c[1][:keep], c[2][:keep], c[3][:keep])
    m = idx < cut
    return (idx[m], c[1][m], c[2][m], c[3][m])


def _in_record_order(chunks: list[Chunk]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One tag's points from several chunks (runs of several step widths, paths), in record
    order: concatenated when the chunks follow one another, else sorted by record index."""
    bounds = [(int(c[0][0]), int(c[0][-1])) for c in chunks]
    order = sorted(range(len(chunks)), key=lambda i: bounds[i][0])
    if all(bounds[a][1] < bounds[b][0] for a, b in zip(order, order[1:], strict=False)):
        cs = [chunks[i] for i in order]
        return (
            np.concatenate([c[1] for c in cs]),
            np.concatenate([c[2] for c in cs]),
            np.concatenate([c[3] for c in cs]),
        )
    idx = np.concatenate([np.asarray(c[0]) for c in chunks])
    srt = np.argsort(idx, kind="stable")
    return (
        np.concatenate([c[1] for c in chunks])[srt],
        np.concatenate([c[2] for c in chunks])[srt],
        np.concatenate([c[3] for c in chunks])[srt],
    )


def _walls_ok(w: np.ndarray) -> bool:
    """Every wall time a plausible unix time (NaN fails every comparison). A live poll brings a
    point or two per tag: plain Python for those, two reductions otherwise."""
    if len(w) <= 4:
        return all(WALL_MIN <= x < WALL_MAX for x in w.tolist())
    return bool(w.min() >= WALL_MIN and w.max() < WALL_MAX)


def _scalar_template(payload: bytes) -> tuple[int, int] | None:
    """(step varint length, tag length) when ``payload`` is a plain tensorboardX scalar event."""
    ln = len(payload)
    if ln < 22 or payload[0] != 0x09 or payload[9] != 0x10:
        return None
    sv = 1
    while payload[9 + sv] & 0x80:
        sv += 1
        if sv > 10 or 9 + sv >= ln:
            return None
    q = 10 + sv
    if q + 6 > ln:
        return None
    tl = payload[q + 5]
    if tl >= 0x76 or ln != 21 + sv + tl:
        return None
    ok = (
        payload[q] == 0x2A
        and payload[q + 1] == tl + 9
        and payload[q + 2] == 0x0A
        and payload[q + 3] == tl + 7
        and payload[q + 4] == 0x0A
        and payload[q + 6 + tl] == 0x15
    )
    return (sv, tl) if ok else None


FEW = 32  # up to this many records, plain Python beats numpy's per-call overhead
_F64 = struct.Struct("<d")
_F32 = struct.Struct("<f")


def _decode_few(buf, recs: list[tuple[int, int, int]], parts: Parts, reader) -> list:
    """A few records ``(index, offset, length)``, one by one: the plain scalars go to ``parts``;
    returns the others."""
    left: list[tuple[int, int, int]] = []
    acc: dict[str, tuple[list, list, list, list]] = {}
    for rec in recs:
        i, o, ln = rec
        payload = buf[o + HEADER : o + HEADER + ln]
        t = _scalar_template(payload)
        # The header record (wall_time + file_version): nothing to keep, as _decode_slow finds
        # when its CRC is valid, without the arrays to get there (one a file).
        header = t is None and ln > 10 and payload[0] == 0x09 and payload[9] == _FILE_VERSION
        if header and reader._payload_ok(buf, o, ln):
            reader.slow_records += 1
            continue
        if t is None or (reader.verify_crc and not reader._payload_ok(buf, o, ln)):
            left.append(rec)
            continue
        sv, tl = t
        step = 0
        for k, b in enumerate(payload[10 : 10 + sv]):
            step |= (b & 0x7F) << (7 * k)
        step &= (1 << 64) - 1
        if step >= 1 << 63:  # int64 in two's complement: add_scalar(tag, v, -1)
            step -= 1 << 64
        tag = payload[16 + sv : 16 + sv + tl].decode("utf-8", "replace")
        a = acc.get(tag)
        if a is None:
            a = acc[tag] = ([], [], [], [])
        a[0].append(i)
        a[1].append(step)
        a[2].append(_F32.unpack_from(payload, ln - 4)[0])
        a[3].append(_F64.unpack_from(payload, 1)[0])
    for tag, (ii, ss, vv, ww) in acc.items():
        parts.setdefault(tag, []).append(
            (
                np.array(ii, np.int64),
                np.array(ss, np.int64),
                np.array(vv, np.float32),
                np.array(ww, np.float64),
            )
        )
    return left


_FULL = (1 << 64) - 1


@functools.lru_cache(maxsize=256)
def _constant_words(length: int, sv: int, tl: int) -> tuple[int, np.ndarray, tuple[Word, ...]]:
    """What every framed scalar record of this shape must have in common with the first one and
    can differ in: the field keys, the continuation bits of the step varint, the summary / value
    / tag framing and the tag. Not the length (the framing compared every record's already), nor
    what differs: the wall time, the step digits, the value, the CRCs (checked with
    ``verify_crc``).

    Two forms of the same bits: ``(offset, masks)``, a grid of consecutive 8-byte words from
    ``offset`` (one comparison of a 2-D strided view: the fewest numpy calls, for a short run),
    and the non-zero words alone as ``(offset, mask, whole word)`` (one 1-D strided view each:
    faster over a long run, whose 2-D view strides badly through memory)."""
    stride = HEADER + length + FOOTER
    mask = bytearray(stride)
    mask[HEADER] = mask[HEADER + 9] = 0xFF  # wall_time and step field keys
    for j in range(HEADER + 10, HEADER + 10 + sv):
        mask[j] = 0x80  # varint continuation bits
    q = HEADER + 10 + sv
    mask[q : q + 7 + tl] = b"\xff" * (7 + tl)  # summary / value / tag framing, the tag, value key
    first = HEADER // 8 * 8
    last = q + 7 + tl  # the masked bytes end here, before the value and the payload CRC
    n = (last - first + 7) // 8  # the last word ends before the record does
    grid = np.frombuffer(bytes(mask[first : first + 8 * n]), "<u8")
    words = tuple(
        (first + 8 * j, np.uint64(m), m == _FULL) for j, m in enumerate(grid.tolist()) if m
    )
    return first, grid, words


SMALL_RUN = 2048  # up to this many records, the step digits are gathered in one matrix product
_WEIGHTS = [np.array([1 << (7 * i) for i in range(sv)], np.int64) for sv in range(10)]


def _decode_uniform(buf, run: Run, base: int, parts: Parts, reader) -> bool:
    """The records of ``run``: back to back, one length. True when all are plain scalars of one
    tag (then decoded into ``parts``, record indices from ``base``)."""
    o0, length, k = run
    t = _scalar_template(buf[o0 + HEADER : o0 + HEADER + length])
    if t is None:
        return False
    sv, tl = t
    if sv > 9:  # a step beyond 2**63: not for the int64 arithmetic below
        return False
    stride = HEADER + length + FOOTER
    # Every record must match the first (a valid scalar) in every bit that may not differ: a
    # few strided 8-byte words per record (no copy: one 2-D view of them for a short run, one
    # view a word for a long one), not every byte.
    first, masks, words = _constant_words(length, sv, tl)
    if k <= SMALL_RUN:
        grid = np.ndarray((k, len(masks)), "<u8", buf, o0 + first, (stride, 8))
        diff = grid ^ grid[0]
        diff &= masks
        if diff.any():
            return False
    else:
        for off, m, whole in words:
            col = np.ndarray((k,), "<u8", buf, o0 + off, (stride,))
            head = col[0]
            if whole:
                if (col != head).any():
                    return False
            elif ((col & m) != (head & m)).any():
                return False
    if reader.verify_crc and not all(
        reader._payload_ok(buf, o, length) for o in range(o0, o0 + k * stride, stride)
    ):
        return False
    wall = np.ndarray((k,), "<f8", buf, o0 + HEADER + 1, (stride,))
    values = np.ndarray((k,), "<f4", buf, o0 + HEADER + length - 4, (stride,))
    p = o0 + HEADER + 10  # the step's varint
    if sv == 1:
        steps = np.ndarray((k,), "u1", buf, p, (stride,)).astype(np.int64)
    elif sv <= 8 and k > SMALL_RUN:  # its digits from one 8-byte word per record (the payload
        # is longer than that): the fewest passes over a long run
        word = np.ndarray((k,), "<u8", buf, p, (stride,))
        acc = word & np.uint64(0x7F)
        for i in range(1, sv):
            acc |= (word >> np.uint64(i)) & np.uint64(0x7F << (7 * i))
        steps = acc.view(np.int64)
    else:  # the fewest numpy calls for a short run (a small file: a few hundred records)
        vb = np.ndarray((k, sv), np.uint8, buf, p, (stride, 1))
        steps = (vb & 0x7F).astype(np.int64) @ _WEIGHTS[sv]
    q = HEADER + 10 + sv
    tag = bytes(buf[o0 + q + 6 : o0 + q + 6 + tl]).decode("utf-8", "replace")
    parts.setdefault(tag, []).append((range(base, base + k), steps, values, wall))
    return True


def _decode_general(buf, offs, lens, gidx, parts: Parts, reader) -> tuple[int, int, int] | None:
    """Records at ``offs`` with payload lengths ``lens`` and record indices ``gidx`` (any
    lengths, any order of tags): vectorised scalar recognition with gathers, then protobuf for
    the rest. Returns (index, offset, length) of the first bad record, or None."""
    a = np.frombuffer(buf, np.uint8)
    n = len(buf)
    p = offs + HEADER  # payload start

    def at(i: np.ndarray) -> np.ndarray:
        return a[np.minimum(i, n - 1)]

    # Event.wall_time (field 1, fixed64) then Event.step (field 2, varint), then
    # summary (field 5) len=tl+9 | value (field 1) len=tl+7 | tag (field 1) len=tl | tag |
    # simple_value (field 2, fixed32).
    fast = (at(p) == 0x09) & (at(p + 9) == 0x10)
    vb = at(p[:, None] + 10 + np.arange(10)).astype(np.uint64)
    more = vb >= 0x80
    sv = np.argmin(more, axis=1) + 1  # varint length: first byte without the continuation bit
    fast &= ~more.all(axis=1)
    q = p + 10 + sv
    tl = at(q + 5).astype(np.int64)
    fast &= (at(q) == 0x2A) & (at(q + 2) == 0x0A) & (at(q + 4) == 0x0A) & (tl < 0x76)
    fast &= (at(q + 1) == tl + 9) & (at(q + 3) == tl + 7) & (at(q + 6 + tl) == 0x15)
    fast &= lens == 21 + sv + tl
    if reader.verify_crc:
        fast &= np.fromiter(
            (
                reader._payload_ok(buf, o, ln)
                for o, ln in zip(offs.tolist(), lens.tolist(), strict=True)
            ),
            bool,
            len(offs),
        )

    si = np.flatnonzero(~fast)
    reader.slow_records += len(si)
    bad = _decode_slow(buf, offs[si], lens[si], gidx[si], parts, reader) if len(si) else None
    fi = np.flatnonzero(fast)
    if len(fi):
        pf, qf, tlf, svf = p[fi], q[fi], tl[fi], sv[fi]
        wall = a[pf[:, None] + 1 + np.arange(8)].copy().view("<f8").ravel()
        digits = (vb[fi] & np.uint64(0x7F)) << _SHIFTS[None, :]
        digits[np.arange(10)[None, :] >= svf[:, None]] = 0
        steps = digits.sum(axis=1, dtype=np.uint64).view(np.int64)
        vpos = qf + 7 + tlf
        values = a[vpos[:, None] + np.arange(4)].copy().view("<f4").ravel()
        # Group by tag: per tag length, the unique rows of the tag bytes.
        for length in np.unique(tlf).tolist():
            sel = np.flatnonzero(tlf == length)
            if length == 0:
                groups = {b"": sel}
            else:
                rows = a[(qf[sel] + 6)[:, None] + np.arange(length)]
                rows = np.ascontiguousarray(rows).view(np.dtype((np.void, length))).ravel()
                uniq, inverse = np.unique(rows, return_inverse=True)
                if len(uniq) == 1:
                    groups = {bytes(uniq[0]): sel}
                else:
                    inverse = inverse.ravel()
                    groups = {bytes(u): sel[inverse == i] for i, u in enumerate(uniq)}
            for tag_b, g in groups.items():
                tag = tag_b.decode("utf-8", "replace")
                parts.setdefault(tag, []).append((gidx[fi[g]], steps[g], values[g], wall[g]))
    return bad


_FILE_VERSION = 0x1A  # Event.file_version (field 3, length-delimited)


def _decode_slow(buf, offs, lens, gidx, parts, reader) -> tuple[int, int, int] | None:
    """Records that are not plain tensorboardX scalars, through the real protobuf classes.

    Returns (index, offset, length) of the first record that is not a valid event (bad CRC or
    unparsable).
    """
    for i, o, ln in zip(gidx.tolist(), offs.tolist(), lens.tolist(), strict=True):
        s = o + HEADER
        payload = buf[s : s + ln]
        if not reader._payload_ok(buf, o, ln):
            return i, o, ln
        # The header record (wall_time + file_version, step 0): nothing to keep, no protobuf.
        if ln > 10 and payload[0] == 0x09 and payload[9] == _FILE_VERSION:
            continue
        try:
            ev = _event_pb2().Event.FromString(payload)
        except Exception:
            return i, o, ln
        if not ev.HasField("summary"):
            continue
        for val in ev.summary.value:
            kind = val.WhichOneof("value")
            if kind == "simple_value":
                x = val.simple_value
            elif kind == "tensor" and _is_scalar_tensor(val.tensor):
                x = _tensor_scalar(val.tensor)
                if x is None:
                    reader.bad_values += 1
                    continue
            else:
                continue  # histograms, images, audio, text...
            parts.setdefault(val.tag, []).append(
                (
                    np.array([i], np.int64),
                    np.array([ev.step], np.int64),
                    np.array([x], np.float32),
                    np.array([ev.wall_time], np.float64),
                )
            )
    return None


def _is_scalar_tensor(t) -> bool:
    return len(t.tensor_shape.dim) == 0 and t.dtype in (1, 2, 19)  # float, double, half


_TENSOR_FORMATS = {1: "<f", 2: "<d", 19: "<e"}  # DT_FLOAT, DT_DOUBLE, DT_HALF


def _tensor_scalar(t) -> float | None:
    """The value of a scalar tensor, as TensorBoard's ``tensor_util.make_ndarray`` reads it
    (``half_val`` holds a half's 16 bits in an int32). None: the tensor holds no value (empty,
    or a ``tensor_content`` shorter than one element)."""
    if t.dtype == 19 and t.half_val:
        return float(struct.unpack("<e", struct.pack("<H", t.half_val[0] & 0xFFFF))[0])
    if t.float_val:
        return t.float_val[0]
    if t.double_val:
        return t.double_val[0]
    fmt = _TENSOR_FORMATS.get(t.dtype)
    if fmt and len(t.tensor_content) >= struct.calcsize(fmt):
        return float(struct.unpack_from(fmt, t.tensor_content)[0])
    return None


def merge_batch(series: dict[str, ScalarSeries], batch: Batch) -> int:
    """Merge a file's batch into the run's series; returns points purged by step restarts."""
    purged = 0
    for tag, (s, v, w) in batch.series.items():
        ser = series.get(tag)
        if ser is None:
            ser = series[tag] = ScalarSeries()
        purged += ser.extend(s, v, w)
    return purged


HEADER_BYTES = HEADER + 9  # the least a file holding a header record's wall time can be


def header_wall_time(path: str) -> float | None:
    """The wall time of a file's first record (tensorboardX's ``file_version`` header, written
    when the writer is created, i.e. when the run starts), or None when the file does not hold
    a complete header yet (HARL's main file can stay 0 bytes until the writer closes)."""
    try:
        fd = os.open(path, _O_FLAGS)  # O_NONBLOCK, regular files only: a FIFO never blocks
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            buf = os.read(fd, HEADER + 64)
        finally:
            os.close(fd)
    except OSError:
        return None
    if len(buf) < HEADER_BYTES:
        return None
    length = _U64.unpack_from(buf, 0)[0]
    payload = buf[HEADER : HEADER + min(length, 64)]
    # Event.wall_time is field 1, fixed64: key byte 0x09, then 8 little-endian bytes.
    if length < 9 or len(payload) < 9 or payload[0] != 0x09:
        return None
    wall = struct.unpack_from("<d", payload, 1)[0]
    return float(wall) if math.isfinite(wall) and wall > 0 else None
