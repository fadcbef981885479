"""Child-side probes for 02_cells: run the student's cell inside keras.layers.RNN.

These run beside the student's code, so they only report what the student's objects
are and compute: weight names, shapes and initial values, outputs and gradients for
weights the suite chooses, what get_config's clone computes, the attributes of the
layer stacked_rnn returns. Every verdict (is it the right layout, do the outputs equal
Keras's, is it an RNN over distinct cells) is reached by the suite in the grader.
Keras's own cells are run only in the reference child (rnnkit_grader.reference.cells).
Everything returned is plain data: arrays, names, numbers.
"""

import numpy as np
from rnnkit_child.probes import _recurrent_trace


def _keras():
    import keras

    return keras


def _student_class(namespace, cell):
    if cell not in namespace:
        raise NameError(f"{cell} is not defined")
    return namespace[cell]


def _projection(shape, index):
    """Fixed random weights that turn an output into a scalar loss, the same in every child."""
    return np.random.default_rng(1000 + index).standard_normal(shape).astype(np.float32)


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def _outputs(out):
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _build_layer(cls, units, input_dim, return_sequences=False, return_state=False, num_layers=1, cell_kwargs=None):
    keras = _keras()
    cells = [cls(units, **(cell_kwargs or {})) for _ in range(num_layers)]
    layer = keras.layers.RNN(cells if num_layers > 1 else cells[0], return_sequences=return_sequences, return_state=return_state)
    layer(np.zeros((1, 1, input_dim), dtype=np.float32))
    return layer, cells


def _layout(cls, units, input_dim):
    _, cells = _build_layer(cls, units, input_dim)
    weights = cells[0].weights
    return {
        "names": [str(w.name).split("/")[-1].split(":")[0] for w in weights],
        "shapes": [list(w.shape) for w in weights],
        "values": [np.asarray(w.numpy()) for w in weights],
        "state_size": _plain(cells[0].state_size),
    }


def _run(cls, units, x, weights, return_sequences=True, return_state=True, num_layers=1, grads=True, cell_kwargs=None):
    import tensorflow as tf

    x = np.asarray(x, dtype=np.float32)
    layer, _ = _build_layer(cls, units, x.shape[-1], return_sequences, return_state, num_layers, cell_kwargs)
    layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = layer(xt)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        loss = tf.add_n([tf.reduce_sum(o * _projection(tuple(o.shape), i)) for i, o in enumerate(outs)])
    result = {"outputs": [np.asarray(o) for o in outs]}
    if grads:
        g = tape.gradient(loss, [xt] + list(layer.trainable_weights))
        result["grads"] = [None if v is None else np.asarray(tf.convert_to_tensor(v)) for v in g]
    return result


def layout(namespace, cell, units, input_dim):
    """The student's cell's weights as created: names, shapes, initial values, and its state_size."""
    return _layout(_student_class(namespace, cell), units, input_dim)


def run(namespace, cell, units, x, weights, return_sequences=True, return_state=True, num_layers=1, grads=True, cell_kwargs=None):
    """Outputs of keras.layers.RNN over the student's cell (made with `cell_kwargs`, e.g. an
    activation) with the given weights, and the gradients of a fixed scalar function of the
    outputs: [d/d x, then d/d each weight]."""
    return _run(_student_class(namespace, cell), units, x, weights, return_sequences, return_state, num_layers, grads, cell_kwargs)


def config_roundtrip(namespace, cell, units, x, weights):
    """Outputs of the cell and of type(cell).from_config(cell.get_config()) with the same weights."""
    first = run(namespace, cell, units, x, weights, grads=False)
    keras = _keras()
    original = _student_class(namespace, cell)(units, name="probe_cell")
    clone = type(original).from_config(original.get_config())
    layer = keras.layers.RNN(clone, return_sequences=True, return_state=True)
    x = np.asarray(x, dtype=np.float32)
    layer(x[:, :1])
    layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return {
        "outputs": first["outputs"],
        "clone_outputs": _outputs(layer(x)),
        "clone_units": _plain(getattr(clone, "units", None)),
        "clone_name": str(clone.name),
    }


def kwargs_passed(namespace, cell, units):
    """The cell made with name= and dtype="float64", run in float64: its name and its weights' dtype."""
    keras = _keras()
    made = _student_class(namespace, cell)(units, name="named_cell", dtype="float64")
    layer = keras.layers.RNN(made, dtype="float64")
    layer(np.zeros((1, 2, 3), dtype=np.float64))
    return {"name": str(made.name), "dtype": str(made.weights[0].dtype) if made.weights else "no weights"}


def stacked(namespace, units, num_layers, return_sequences=None, return_state=None, x=None, weights=None):
    """What the student's stacked_rnn(keras.layers.LSTMCell, ...) returns, and what it computes:
    the class names of the layer and its cell, the ids of the cells it holds, its flags,
    and its outputs (with the given weights). A flag given as None is left out of the call
    (stacked_rnn's own default)."""
    keras = _keras()
    flags = {k: v for k, v in (("return_sequences", return_sequences), ("return_state", return_state)) if v is not None}
    layer = namespace["stacked_rnn"](keras.layers.LSTMCell, units, num_layers, **flags)
    info = {"classes": [f"{c.__module__}.{c.__qualname__}" for c in type(layer).__mro__]}
    cells = getattr(layer, "cell", None)
    inner = getattr(cells, "cells", None)
    cell_list = list(inner) if inner is not None else ([cells] if cells is not None else [])
    info["cell_ids"] = [id(c) for c in cell_list]
    for flag in ("return_sequences", "return_state"):
        value = getattr(layer, flag, None)
        info[flag] = value if isinstance(value, bool) else repr(value)[:80]
    try:  # what the layer is made of is worth reporting even when running it fails
        x = np.asarray(x, dtype=np.float32)
        layer(x[:, :1])
        if weights is not None:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        out = layer(x)
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"[:600]
        return info
    info["outputs"] = _outputs(out)
    info["weight_shapes"] = [list(w.shape) for w in layer.weights]
    return info


def _class_names(cls):
    return [f"{getattr(c, '__module__', '?')}.{getattr(c, '__qualname__', getattr(c, '__name__', '?'))}"[:200]
            for c in getattr(cls, "__mro__", (cls,))]


def _code_names(code, depth=0):
    names = set(getattr(code, "co_names", ()))
    if depth < 5:
        for const in getattr(code, "co_consts", ()):
            if hasattr(const, "co_names"):
                names |= _code_names(const, depth + 1)
    return names


def _parts(root, namespace, keras, limit=2000):
    """[{"path", "classes"}] of every Keras layer (or layer class) reachable from the cell: the layers
    it tracks, its attributes, inside lists, tuples, dicts, sets, bound methods, partials, closures
    and default values, and the notebook globals its own methods (and those functions) name."""
    import functools
    import types

    found, seen = [], {id(root)}
    todo = [("cell", root, 0)]

    def push(path, value, depth):
        if id(value) not in seen and depth <= 6 and len(seen) < limit:
            seen.add(id(value))
            todo.append((path, value, depth))

    def own(func):
        return getattr(func, "__module__", None) == namespace.get("__name__", "__main__")

    for cls in type(root).__mro__:  # the cell's own methods: the globals they name
        if getattr(cls, "__module__", "").partition(".")[0] in ("keras", "tensorflow", "builtins"):
            continue
        for name, member in list(vars(cls).items())[:200]:
            func = getattr(member, "__func__", member)
            if isinstance(func, types.FunctionType):
                push(f"{cls.__qualname__}.{name}", func, 1)
    while todo:
        path, value, depth = todo.pop()
        if isinstance(value, type):
            if issubclass(value, keras.layers.Layer) and value is not type(root):
                found.append({"path": path, "classes": _class_names(value)})
            continue
        if isinstance(value, keras.layers.Layer):
            if value is not root:
                found.append({"path": path, "classes": _class_names(type(value))})
            try:
                attributes = list(vars(value).items())[:500]
            except TypeError:
                attributes = []
            for name, item in attributes:
                push(f"{path}.{name}", item, depth + 1)
            try:
                for index, layer in enumerate(value._flatten_layers(include_self=False, recursive=False)):
                    push(f"{path}.<layer {index}>", layer, depth + 1)
            except Exception:
                pass
        elif isinstance(value, (list, tuple, set, frozenset)):
            for index, item in enumerate(list(value)[:500]):
                push(f"{path}[{index}]", item, depth + 1)
        elif isinstance(value, dict):
            for key, item in list(value.items())[:500]:
                push(f"{path}[{str(key)[:40]!r}]", item, depth + 1)
        elif isinstance(value, types.MethodType):
            push(f"{path}.__self__", value.__self__, depth + 1)
            push(f"{path}.__func__", value.__func__, depth + 1)
        elif isinstance(value, functools.partial):
            push(f"{path}.func", value.func, depth + 1)
            for index, item in enumerate(value.args):
                push(f"{path}.args[{index}]", item, depth + 1)
            for key, item in value.keywords.items():
                push(f"{path}.keywords[{key!r}]", item, depth + 1)
        elif isinstance(value, types.FunctionType) and own(value):
            for index, cell in enumerate(value.__closure__ or ()):
                try:
                    push(f"{path}.<closure {index}>", cell.cell_contents, depth + 1)
                except ValueError:
                    pass
            for index, item in enumerate(value.__defaults__ or ()):
                push(f"{path}.<default {index}>", item, depth + 1)
            for item in (value.__kwdefaults__ or {}).values():
                push(f"{path}.<default>", item, depth + 1)
            for name in sorted(_code_names(value.__code__)):
                if name in value.__globals__:
                    push(name, value.__globals__[name], depth + 1)
    return found


def anatomy(namespace, cell, units, input_dim):
    """What the student's cell is made of, as data: the classes in its MRO, the classes of every
    Keras layer (or layer class) it tracks or can reach (`parts`, see _parts), and of every layer
    made while it was built and run inside keras.layers.RNN (`created`, found by the garbage
    collector, besides the cell and the probe's own RNN), the classes of what calling the unit
    made (`instance`: a factory, partial or metaclass may hand back a built-in), whether the unit
    is a class at all (`is_class`), and which of Keras's and TensorFlow's own recurrent code ran
    meanwhile (`ran`, `tracer_intact`: see _recurrent_trace). The suite judges (rnnkit_grader.shortcuts)."""
    import gc

    keras = _keras()
    cls = _student_class(namespace, cell)
    report = {"classes": _class_names(cls) if isinstance(cls, type) else [_type_name_of(cls)], "parts": [], "created": []}

    def layers():
        return [o for o in gc.get_objects() if isinstance(o, keras.layers.Layer)]

    before = layers()
    known = {id(o) for o in before}
    made = layer = None
    recorder = _recurrent_trace.Recorder()
    try:  # what the cell is made of is worth reporting even when building or running it fails
        with recorder:  # which built-in recurrent code runs, however it was reached
            made = cls(units)
            layer = keras.layers.RNN(made, return_sequences=True, return_state=True)
            layer(np.zeros((1, 2, input_dim), dtype=np.float32))
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"[:300]
    report["ran"] = list(recorder.hits)
    report["tracer_intact"] = recorder.intact
    report["is_class"] = isinstance(cls, type)
    if made is not None:
        report["instance"] = _class_names(type(made))
        report["parts"] = _parts(made, namespace, keras)
    report["created"] = [_class_names(type(o)) for o in layers() if id(o) not in known and o is not made and o is not layer][:50]
    del before
    return report


def _type_name_of(value):
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"
