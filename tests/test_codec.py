"""Values cross the sandbox boundary as data only, and malformed data is refused."""

import base64
import json

import numpy as np
import pytest

from rnnkit_child import codec


def roundtrip(value):
    message = codec.encode_message({"value": codec.to_data(value)})
    return codec.from_data(codec.decode_payload(message[4:])["value"])


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64", "uint8", "bool", "complex128"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_arrays_roundtrip_exactly(dtype, shape):
    arr = (np.arange(int(np.prod(shape))).reshape(shape) % 3).astype(dtype)
    back = roundtrip(arr)
    assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)


def test_containers_and_scalars():
    value = (1, 2.5, "s", None, True, [np.float64(1.5), {"a": np.int32(3)}], float("nan"))
    back = roundtrip(value)
    assert isinstance(back, tuple) and back[:5] == (1, 2.5, "s", None, True)
    assert back[5][0].shape == () and back[5][1]["a"] == 3
    assert np.isnan(back[6])


def test_non_data_becomes_opaque():
    class Sneaky:
        def __eq__(self, other):
            return True

        def __array__(self, *a, **k):
            return np.ones(3)

    back = roundtrip([Sneaky(), np.array([object()], dtype=object)])
    assert all(isinstance(b, codec.Opaque) for b in back)
    assert "Sneaky" in back[0].type_name


def test_subclass_of_ndarray_is_opaque():
    class Lying(np.ndarray):
        pass

    assert isinstance(roundtrip(np.zeros(3).view(Lying)), codec.Opaque)


@pytest.mark.parametrize(
    "data",
    [
        {"__nd__": base64.b64encode(b"\0" * 7).decode(), "dtype": "<f8", "shape": [1]},
        {"__nd__": base64.b64encode(b"\0" * 8).decode(), "dtype": "|O", "shape": [1]},
        {"__nd__": "!!not base64!!", "dtype": "<f8", "shape": [1]},
        {"__nd__": "", "dtype": "<f8", "shape": [-1]},
        {"something": "untagged"},
        {"__tuple__": "not a list"},
    ],
)
def test_malformed_data_is_refused(data):
    with pytest.raises(codec.ProtocolError):
        codec.from_data(data)


def test_deep_nesting_is_refused():
    data = []
    for _ in range(100):
        data = [data]
    with pytest.raises(codec.ProtocolError):
        codec.from_data(json.loads(json.dumps(data)))
