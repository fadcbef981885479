"""Data-only messages between the grader and the sandboxed child.

A message is a 4-byte big-endian length followed by UTF-8 JSON. Values are plain
JSON plus three tagged forms: NumPy arrays (raw bytes in base64 with dtype and shape),
tuples, and opaque objects (only their type name and a short repr cross). Nothing in
a message can execute code when decoded: no pickle, and the grader rebuilds arrays
only from a whitelist of numeric dtypes after checking the byte count.
"""

import base64
import json
import struct

import numpy as np

MAX_MESSAGE_BYTES = 256 * 2**20
# What the grader accepts from a student's child: every JSON array, object and item becomes a
# Python object of about 64 bytes in the grader, so a reply is capped in bytes and in values.
MAX_REPLY_BYTES = 64 * 2**20
MAX_REPLY_VALUES = 1_000_000
_ARRAY_KINDS = {"b", "i", "u", "f", "c"}


class ProtocolError(Exception):
    """A message that is malformed, too large, or holds something that is not data."""


class Opaque:
    """A value the child could not send as data: the grader sees its type and repr only."""

    def __init__(self, type_name, text):
        self.type_name = type_name
        self.text = text

    def __repr__(self):
        return f"<{self.type_name}: {self.text}>"


def to_data(value, _depth=0):
    """Turn a Python value into JSON-ready data (run where the value was made)."""
    if _depth > 20:
        return {"__opaque__": "nested too deep", "repr": ""}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) in (int, bool):
        return value
    if type(value) is float:
        return value
    if isinstance(value, np.generic) and type(value).__module__ == "numpy":
        return to_data(np.asarray(value), _depth + 1)
    if type(value) is np.ndarray:
        if value.dtype.kind not in _ARRAY_KINDS:
            return {"__opaque__": f"numpy.ndarray of dtype {value.dtype}", "repr": _short_repr(value)}
        arr = np.asarray(value, order="C")  # (ascontiguousarray would turn 0-d into 1-d)
        return {
            "__nd__": base64.b64encode(arr.tobytes()).decode("ascii"),
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
        }
    if type(value) is tuple:
        return {"__tuple__": [to_data(v, _depth + 1) for v in value]}
    if type(value) is list:
        return [to_data(v, _depth + 1) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {"__dict__": {k: to_data(v, _depth + 1) for k, v in value.items()}}
    return {"__opaque__": _type_name(value), "repr": _short_repr(value)}


def from_data(data, _depth=0):
    """Rebuild values from data, trusting nothing: raises ProtocolError on anything odd."""
    if _depth > 40:
        raise ProtocolError("value nested too deep")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [from_data(v, _depth + 1) for v in data]
    if not isinstance(data, dict):
        raise ProtocolError(f"unexpected JSON value of type {type(data).__name__}")
    if "__nd__" in data:
        return _array_from_data(data)
    if "__tuple__" in data:
        items = data["__tuple__"]
        if not isinstance(items, list):
            raise ProtocolError("malformed tuple")
        return tuple(from_data(v, _depth + 1) for v in items)
    if "__dict__" in data:
        items = data["__dict__"]
        if not isinstance(items, dict):
            raise ProtocolError("malformed dict")
        return {str(k): from_data(v, _depth + 1) for k, v in items.items()}
    if "__opaque__" in data:
        return Opaque(str(data["__opaque__"])[:200], str(data.get("repr", ""))[:300])
    raise ProtocolError("untagged JSON object")


def _array_from_data(data):
    try:
        dtype = np.dtype(str(data["dtype"]))
        shape = tuple(int(s) for s in data["shape"])
        raw = base64.b64decode(data["__nd__"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed array: {exc}") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.itemsize > 16 or dtype.hasobject:
        raise ProtocolError(f"array dtype {dtype} is not plain numbers")
    if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(raw):
        raise ProtocolError("array byte count does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _type_name(value):
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__


def _short_repr(value):
    try:
        text = repr(value)
    except Exception:  # a student object whose __repr__ raises
        text = "<repr failed>"
    return text if len(text) <= 300 else text[:297] + "..."


def encode_message(obj):
    payload = json.dumps(obj, allow_nan=True).encode("utf-8")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(payload)} bytes is over the {MAX_MESSAGE_BYTES} byte limit")
    return struct.pack(">I", len(payload)) + payload


def decode_payload(payload, max_values=None):
    """The JSON object in payload; with max_values, refuse (before parsing) one that could hold more
    values than that (commas and brackets counted, strings included: a bound, never an undercount)."""
    if max_values is not None:
        structure = payload.count(b",") + payload.count(b"[") + payload.count(b"{")
        if structure > max_values:
            raise ProtocolError(f"message has up to {structure:,} JSON values, over the limit of {max_values:,}")
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"message is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("message is not a JSON object")
    return obj


def read_message(stream):
    """Blocking read of one message from a binary stream (used by the child)."""
    header = _read_exact(stream, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">I", header)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    payload = _read_exact(stream, size)
    if payload is None:
        raise ProtocolError("stream closed mid-message")
    return decode_payload(payload)


def _read_exact(stream, n):
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
