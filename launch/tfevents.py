"""The latest scalars of a run's TensorBoard event files, read without TensorBoard.

`labspec status` shows a training run's latest loss while it trains. Importing
tensorboard (or torch) to read it would cost seconds per call and tie the launcher to
the training stack, so this reads the two formats involved itself:

- TFRecord framing: each record is an 8-byte little-endian length, a 4-byte masked
  CRC-32C of those 8 bytes, the data, and a 4-byte masked CRC-32C of the data.
- The few protobuf fields of an `Event` that carry a scalar: wall_time (1, double),
  step (2, int64), summary (5) -> value (1, repeated) -> tag (1), simple_value (2,
  float) or tensor (8: dtype 1, tensor_content 4, float_val 5, double_val 6), which is
  how `torch.utils.tensorboard` writes scalars today.

An event file only grows, and a long run's can reach tens of megabytes; only its last
`TAIL_BYTES` are read. A record boundary inside that tail is found again by its header:
the length's checksum (one chance in 2^32 of matching by accident). The data checksums
are not verified (pure-Python CRC over megabytes would be slow); a record that does not
parse is skipped, and the record being written (cut short) is left for the next call.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TAIL_BYTES = 64 * 1024  # per file: about a hundred logging steps of a trainer's scalars
MAX_FILES = 4  # the most recently written event files of a run dir that are read
PREFERRED = ("train/loss",)  # shown before any other scalar, when a run logs it
SHADOW_PREFIXES = ("hparam/",)  # HParams' copies of final figures logged under their own tags too


@dataclass(frozen=True)
class Scalar:
    tag: str
    value: float
    step: int
    wall_time: float


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C (Castagnoli), rotated and offset ("masked")."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _header_ok(data: bytes, pos: int) -> bool:
    """A valid record header at `pos`: its length's checksum matches."""
    crc: int = struct.unpack_from("<I", data, pos + 8)[0]
    return masked_crc32c(data[pos:pos + 8]) == crc


def records(data: bytes, pos: int = 0) -> Iterator[bytes]:
    """The complete records of `data` from `pos` on; stops at a bad header or a cut record."""
    while pos + 12 <= len(data) and _header_ok(data, pos):
        (length,) = struct.unpack_from("<Q", data, pos)
        end = pos + 12 + length
        if end + 4 > len(data):
            return  # still being written
        yield data[pos + 12:end]
        pos = end + 4


def first_record(data: bytes) -> int | None:
    """The offset of the first record header in `data` (a tail of a file, which starts
    anywhere); None when there is none. A record's length is below 4 GiB, so its header's
    bytes 4-7 are zero: only those places are checked."""
    pos = data.find(b"\0\0\0\0", 4)
    while pos != -1 and pos + 8 <= len(data):
        start = pos - 4
        if _header_ok(data, start):
            return start
        pos = data.find(b"\0\0\0\0", pos + 1)
    return None


# --- protobuf, just enough -------------------------------------------------------

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message: an int for varints, the raw
    bytes otherwise (8 for fixed64, 4 for fixed32, the payload for length-delimited).
    Raises ValueError on a malformed message (groups, wire types 3 and 4, are not used)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise ValueError(f"wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield number, wire, value


DT_FLOAT, DT_DOUBLE = 1, 2


def _tensor_values(buf: bytes) -> list[float]:
    """The numbers of a TensorProto holding floats or doubles (packed or not)."""
    dtype, content, values = 0, b"", list[float]()
    for number, wire, value in fields(buf):
        if number == 1 and isinstance(value, int):
            dtype = value
        elif number == 4 and isinstance(value, bytes):
            content = value
        elif number in (5, 6) and isinstance(value, bytes):
            fmt = "f" if number == 5 else "d"
            if wire == 2 or len(value) == struct.calcsize(fmt):
                values.extend(v for (v,) in struct.iter_unpack("<" + fmt, value))
    if not values and content and dtype in (DT_FLOAT, DT_DOUBLE):
        fmt = "<f" if dtype == DT_FLOAT else "<d"
        if len(content) % struct.calcsize(fmt) == 0:
            values = [v for (v,) in struct.iter_unpack(fmt, content)]
    return values


def _value(buf: bytes) -> tuple[str, float] | None:
    """A Summary.Value's tag and number when it holds one scalar (text, histograms, images
    and HParams records hold none, or several)."""
    tag, numbers = "", list[float]()
    for number, wire, value in fields(buf):
        if number == 1 and isinstance(value, bytes):
            tag = value.decode("utf-8", errors="replace")
        elif number == 2 and wire == 5 and isinstance(value, bytes):
            numbers = [struct.unpack("<f", value)[0]]
        elif number == 8 and isinstance(value, bytes):
            numbers = _tensor_values(value)
    return (tag, numbers[0]) if tag and len(numbers) == 1 else None


def event_scalars(record: bytes) -> list[Scalar]:
    """The scalars of one Event record (none for a malformed one)."""
    wall_time, step, values = 0.0, 0, list[bytes]()
    try:
        for number, wire, value in fields(record):
            if number == 1 and wire == 1 and isinstance(value, bytes):
                wall_time = struct.unpack("<d", value)[0]
            elif number == 2 and isinstance(value, int):
                step = value - (1 << 64) if value >= 1 << 63 else value
            elif number == 5 and isinstance(value, bytes):
                values = [v for n, _, v in fields(value) if n == 1 and isinstance(v, bytes)]
        pairs = [p for p in map(_value, values) if p is not None]
    except (ValueError, struct.error):
        return []
    return [Scalar(tag, value, step, wall_time) for tag, value in pairs]


# --- files -----------------------------------------------------------------------

def read_scalars(path: str | Path, tail_bytes: int = TAIL_BYTES) -> list[Scalar]:
    """The scalars in the last `tail_bytes` of an event file, in the order written."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - tail_bytes))
            data = fh.read(tail_bytes)
    except OSError:
        return []
    start = 0 if size <= tail_bytes else first_record(data)
    if start is None:
        return []
    return [s for record in records(data, start) for s in event_scalars(record)]


def event_files(tb_dir: str | Path, limit: int = MAX_FILES) -> list[Path]:
    """A run's event files (in subfolders too), the most recently written first."""
    found = []
    for path in Path(tb_dir).rglob("events.out.tfevents.*"):
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:
            continue  # removed meanwhile
    return [p for _, p in sorted(found, reverse=True)[:limit]]


def latest_scalar(tb_dir: str | Path, preferred: tuple[str, ...] = PREFERRED) -> Scalar | None:
    """The latest value of the first `preferred` tag logged under `tb_dir`, else the most
    recently written scalar of any other tag (HParams' copies aside); None when there is
    none (yet)."""
    latest: dict[str, Scalar] = {}
    for path in event_files(tb_dir):
        for s in read_scalars(path):
            if s.tag not in latest or s.wall_time >= latest[s.tag].wall_time:
                latest[s.tag] = s
    for tag in preferred:
        if tag in latest:
            return latest[tag]
    shown = [s for s in latest.values() if not s.tag.startswith(SHADOW_PREFIXES)]
    return max(shown, key=lambda s: s.wall_time, default=None)
