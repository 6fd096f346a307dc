"""TensorBoard event files, written and read without TensorFlow.

An event file is a sequence of TFRecords (``uint64`` length, masked CRC-32C
of the length, the data, masked CRC-32C of the data), each holding an
``Event`` protobuf. We encode the few fields TensorBoard's scalar dashboard
reads by hand: ``Event.wall_time`` (1, double), ``Event.step`` (2, int64),
``Event.file_version`` (3, string, the first record) and ``Event.summary``
(5) with ``Summary.value`` (1) entries of ``Value.tag`` (1, string) and
``Value.simple_value`` (2, float).

Each member gets one directory, ``<run>/tensorboard/<optimizer>/<activation>/
lr<lr>-seed<seed>/`` (the same names as its saved model under ``models/``),
so ``tensorboard --logdir <run>/tensorboard`` (or a parent of several runs)
shows one line per member. Tags are ``accuracy/train``, ``accuracy/val``,
``loss/test``, ... (history.csv's ``<split>_<metric>`` columns), ``diverged``
(0 or 1), plus extra scalars such as the dynamics probes
(``dynamics/grad_norm/layer1``, ...); step = epoch.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from jaxmnist import files
from jaxmnist.results.members import MODELS_DIR, Member, member_path
from jaxmnist.results.records import HistoryRow

#: What a run dir holds from this module.
TENSORBOARD_DIR = "tensorboard"
_KEY_FIELDS = Member._fields

ExtraScalars = Mapping[str, Sequence[tuple[int, float]]]


#: Who a member is: a MemberResult, HistoryRow or sweep Member (anything
#: with the fields of :class:`jaxmnist.results.members.Member`).
MemberKey = Any


class Scalar(NamedTuple):
    """One value read back from an event file."""
    wall_time: float
    step: int
    tag: str
    value: float


# --------------------------------------------------------------------------
# CRC-32C (Castagnoli) and the TFRecord framing
# --------------------------------------------------------------------------

def _crc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (crc32c(b"123456789") == 0xE3069283)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """The TFRecord checksum: CRC-32C rotated right by 15, plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc(length)) + data
            + struct.pack("<I", masked_crc(data)))


# --------------------------------------------------------------------------
# The protobuf fields, by hand
# --------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64: negative numbers take ten bytes
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(wall_time: float, step: int,
                 scalars: Iterable[tuple[str, float]] = (),
                 file_version: str | None = None) -> bytes:
    """An ``Event`` protobuf: a file-version record, or scalars at ``step``."""
    out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step)
    if file_version is not None:
        return out + _bytes_field(3, file_version.encode())
    values = b"".join(
        _bytes_field(1, _bytes_field(1, tag.encode()) + b"\x15"
                     + struct.pack("<f", value))
        for tag, value in scalars)
    return out + _bytes_field(5, values)


# --------------------------------------------------------------------------
# Writing a member's events
# --------------------------------------------------------------------------

def member_dir(run_dir: str | Path, member: MemberKey) -> Path:
    """``<run>/tensorboard/<optimizer>/<activation>/lr<lr>-seed<seed>``."""
    model = member_path(run_dir, member)
    return Path(run_dir) / TENSORBOARD_DIR / model.relative_to(
        Path(run_dir) / MODELS_DIR)


def history_tag(column: str) -> str:
    """history.csv's ``val_accuracy`` -> ``accuracy/val``; others as named."""
    split, _, metric = column.partition("_")
    return f"{metric}/{split}" if split in ("train", "val", "test") \
        and metric else column


def history_scalars(rows: Iterable[HistoryRow]
                    ) -> dict[int, list[tuple[str, float]]]:
    """epoch -> [(tag, value)] of every per-epoch metric in ``rows``."""
    columns = [f for f in HistoryRow._fields
               if f not in (*_KEY_FIELDS, "epoch")]
    return {r.epoch: [(history_tag(c), float(getattr(r, c)))
                      for c in columns] for r in rows}


def write_member_events(run_dir: str | Path, member_key: MemberKey,
                        history_rows: Iterable[HistoryRow],
                        extra_scalars: ExtraScalars | None = None,
                        wall_time: float | None = None,
                        host: str | None = None) -> Path:
    """Write one member's event file; return its path.

    Args:
      run_dir: the run directory; the file goes under
        :func:`member_dir` as ``events.out.tfevents.<time>.<host>``.
      member_key: who (the fields of a sweep ``Member``).
      history_rows: history.csv's rows; those of other members are skipped.
        Every metric column becomes a tag at step = epoch.
      extra_scalars: more series, ``{tag: [(step, value), ...]}`` (e.g.
        per-epoch dynamics quantities), merged into the same steps.
      wall_time, host: the events' time stamp and the file name's host
        (default: now, this machine).

    The member's older event files are removed first, so writing again
    (a resumed sweep, ``plot --tensorboard``) never duplicates steps.
    """
    key = tuple(getattr(member_key, f) for f in _KEY_FIELDS)
    mine = [r for r in history_rows
            if tuple(getattr(r, f) for f in _KEY_FIELDS) == key]
    by_step: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for step, values in history_scalars(mine).items():
        by_step[step] += values
    for tag, series in (extra_scalars or {}).items():
        for step, value in series:
            by_step[int(step)].append((tag, float(value)))
    now = time.time() if wall_time is None else wall_time
    data = tfrecord(encode_event(now, 0, file_version="brain.Event:2"))
    data += b"".join(tfrecord(encode_event(now, step, by_step[step]))
                     for step in sorted(by_step))
    out = member_dir(run_dir, member_key)
    for old in out.glob("events.out.tfevents.*"):
        old.unlink()
    host = host or socket.gethostname()
    path = out / f"events.out.tfevents.{int(now)}.{host}"
    files.write_bytes(path, data)
    return path


def dynamics_scalars(rows: Iterable) -> dict[tuple, dict[str, list]]:
    """dynamics.csv's rows (DynamicsRow) as ``extra_scalars`` per member:
    the member's fields (``Member._fields``) -> {``dynamics/<quantity>
    [/layer<l>]``: [(epoch, value), ...]}."""
    out: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        layer = "" if r.layer is None else f"/layer{r.layer}"
        out[tuple(getattr(r, f) for f in _KEY_FIELDS)][
            f"dynamics/{r.quantity}{layer}"].append((r.epoch, r.value))
    return {k: dict(v) for k, v in out.items()}


def write_run_events(run_dir: str | Path, history: Sequence[HistoryRow],
                     extra_scalars: Mapping[tuple, ExtraScalars] | None = None
                     ) -> list[Path]:
    """:func:`write_member_events` for every member in ``history``;
    ``extra_scalars`` maps a member's fields (``Member._fields``) to
    that member's extra series."""
    rows: dict[tuple, list[HistoryRow]] = defaultdict(list)
    for r in history:
        rows[tuple(getattr(r, f) for f in _KEY_FIELDS)].append(r)
    return [write_member_events(run_dir, mine[0], mine,
                                (extra_scalars or {}).get(key))
            for key, mine in rows.items()]


# --------------------------------------------------------------------------
# Reading them back
# --------------------------------------------------------------------------

def read_records(data: bytes) -> list[bytes]:
    """The TFRecords in ``data``; ValueError on a bad length or checksum."""
    out, at = [], 0
    while at < len(data):
        if at + 12 > len(data):
            raise ValueError(f"truncated record header at byte {at}")
        head = data[at:at + 8]
        (length,), (crc,) = struct.unpack("<Q", head), struct.unpack(
            "<I", data[at + 8:at + 12])
        body = data[at + 12:at + 12 + length]
        if crc != masked_crc(head) or len(body) != length:
            raise ValueError(f"bad record length at byte {at}")
        end = at + 12 + length
        if data[end:end + 4] != struct.pack("<I", masked_crc(body)):
            raise ValueError(f"bad record checksum at byte {at}")
        out.append(body)
        at = end + 4
    return out


def _fields(buf: bytes) -> Iterable[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message (wire types 0,1,2,5)."""
    at = 0
    while at < len(buf):
        key, at = _read_varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _read_varint(buf, at)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = buf[at:at + size], at + size
        elif wire == 2:
            size, at = _read_varint(buf, at)
            value, at = buf[at:at + size], at + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _read_varint(buf: bytes, at: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        byte = buf[at]
        n |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return n, at


def read_events(path: str | Path) -> list[Scalar]:
    """Every scalar in an event file, in file order."""
    out = []
    for record in read_records(Path(path).read_bytes()):
        wall, step, values = 0.0, 0, []
        for number, value in _fields(record):
            if number == 1 and isinstance(value, bytes):
                wall = struct.unpack("<d", value)[0]
            elif number == 2 and isinstance(value, int):
                step = value - (1 << 64) if value >= 1 << 63 else value
            elif number == 5 and isinstance(value, bytes):
                values = [v for n, v in _fields(value) if n == 1]
        for v in values:
            fields = dict(_fields(v))  # type: ignore[arg-type]
            tag, simple = fields.get(1, b""), fields.get(2)
            if isinstance(tag, bytes) and isinstance(simple, bytes):
                out.append(Scalar(wall, step, tag.decode(),
                                  struct.unpack("<f", simple)[0]))
    return out
