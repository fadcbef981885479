"""Hidden suite for 02_cells: RNN, GRU and LSTM cells written as Keras layers.

100 points: 28 for each cell, 16 for stacked_rnn. Each cell runs inside
keras.layers.RNN in the student's child; Keras's own cell runs with the same weights
in the reference child, and outputs, final states and gradients (inputs and every
weight) must agree to rtol 1e-5 / atol 1e-6 for sequence lengths 1, 7 and 30. When
they don't, the suite tries the usual slips (gate order, GRU update convention,
reset before the matmul, bias rows swapped, LSTM states swapped) and names the
one that explains the difference.
"""

import itertools

import numpy as np
import pytest

from rnnkit_grader import checks

B, D, U = 2, 3, 4
RTOL, ATOL = 1e-5, 1e-6
GATES = {"RNNCell": ["h"], "GRUCell": ["z", "r", "candidate"], "LSTMCell": ["i", "f", "c", "o"]}
CELLS = list(GATES)
KERAS_NAME = {"RNNCell": "SimpleRNNCell", "GRUCell": "GRUCell", "LSTMCell": "LSTMCell"}
FLAGS = [(False, False), (True, False), (False, True), (True, True)]


def flags_id(flags):
    return f"return_sequences={flags[0]},return_state={flags[1]}"


def keras_layout(reference, cell):
    return reference.probe("cells.layout", cell=cell, units=U, input_dim=D, source="keras")


def random_weights(reference, cell, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * 0.4).astype(np.float32) for shape in keras_layout(reference, cell)["shapes"]]


def inputs(T, seed=1):
    return np.random.default_rng(seed).standard_normal((B, T, D)).astype(np.float32)


def agree(a, b):
    return isinstance(a, np.ndarray) and a.shape == np.shape(b) and np.allclose(a, b, rtol=RTOL, atol=ATOL)


def all_agree(xs, ys):
    return isinstance(xs, list) and len(xs) == len(ys) and all(agree(x, y) for x, y in zip(xs, ys))


def student_run(student, reference, cell, x, weights, flags=(True, True), grads=True):
    """Run the student's cell; when it fails, say first whether its weights have Keras's layout."""
    try:
        return student.probe(
            "cells.run", cell, cell=cell, units=U, x=x, weights=weights,
            return_sequences=flags[0], return_state=flags[1], grads=grads,
        )
    except checks.GradingFailure as exc:
        mismatch = layout_problem(student, reference, cell)
        raise checks.GradingFailure(f"{mismatch}\n{exc}" if mismatch else str(exc)) from None


def keras_run(reference, cell, x, weights, flags=(True, True), grads=True, **kw):
    return reference.probe(
        "cells.run", cell=cell, units=U, x=x, weights=weights, source="keras",
        return_sequences=flags[0], return_state=flags[1], grads=grads, **kw,
    )


def layout_problem(student, reference, cell):
    try:
        got = student.probe("cells.layout", cell, cell=cell, units=U, input_dim=D)
    except checks.GradingFailure as exc:
        return str(exc)
    want = keras_layout(reference, cell)
    if got["shapes"] != want["shapes"]:
        return (
            f"{cell}: its weights are {list(zip(got['names'], map(tuple, got['shapes'])))}, but "
            f"keras.layers.{KERAS_NAME[cell]} creates {list(zip(want['names'], map(tuple, want['shapes'])))} "
            "(same shapes, same order) for input size 3 and 4 units."
        )
    return ""


# ---- diagnosis of wrong outputs ----------------------------------------------------------


def permuted(weights, order, units=U):
    """Weights with their gate blocks (of `units` columns) rearranged into `order`."""
    def blocks(w):
        return [w[..., k * units:(k + 1) * units] for k in range(len(order))]

    return [np.concatenate([blocks(w)[k] for k in order], axis=-1) for w in weights]


def diagnose(student, reference, cell, x, weights, got):
    """A sentence naming the likely mistake, or a generic pointer."""
    gates = GATES[cell]
    candidates = []
    for order in itertools.permutations(range(len(gates))):
        if order != tuple(range(len(gates))):
            named = ", ".join(gates[k] for k in order)
            candidates.append((permuted(weights, order), {}, f"The gates are read in the wrong order: your cell behaves like Keras's if the kernel's column blocks were {named}. Keras's order is {', '.join(gates)}."))
    if cell == "GRUCell":
        flip = [w.copy() for w in weights]
        for w in flip:
            w[..., :U] *= -1
        candidates.append((flip, {}, "The update convention is flipped: Keras computes h = z * h_prev + (1 - z) * candidate."))
        candidates.append(([weights[0], weights[1], weights[2][::-1].copy()], {}, "The bias rows are swapped: row 0 is the input bias, row 1 the recurrent bias."))
        merged = [weights[0], weights[1], weights[2].sum(axis=0)]
        candidates.append((merged, {"cell_kwargs": {"reset_after": False}}, "The reset gate is applied before the recurrent matmul ((r * h_prev) @ U); with reset_after it multiplies the result: r * (h_prev @ U_h + b_rec_h)."))
    if cell == "RNNCell":
        candidates.append(([weights[0], weights[1].T.copy(), weights[2]], {}, "The recurrent kernel is transposed: use h_prev @ recurrent_kernel."))
        candidates.append((weights, {"cell_kwargs": {"activation": None}}, "The activation is missing: apply tanh (self.activation) to the sum."))
    for alt_weights, kw, message in candidates:
        alt = keras_run(reference, cell, x, alt_weights, grads=False, **kw)
        if all_agree(got["outputs"], alt["outputs"]):
            return message
    ref = keras_run(reference, cell, x, weights, grads=False)
    outs = got["outputs"]
    if cell == "LSTMCell" and len(outs) == 3 and agree(outs[0], ref["outputs"][0]) and agree(outs[1], ref["outputs"][2]):
        return "The states come back as [c, h]; Keras's LSTM states are [h, c]."
    one = x[:, :1]
    if all_agree(student_run(student, reference, cell, one, weights, grads=False)["outputs"], keras_run(reference, cell, one, weights, grads=False)["outputs"]):
        return "The first step is right, later steps are not: check how the state is carried (the recurrent term and the states you return)."
    return f"Check each gate's equation; Keras's column order is {', '.join(gates)}."


# ---- per-cell tests ----------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(3)
def test_weight_layout(student, reference, cell):
    """creates kernel, recurrent_kernel and bias with Keras's shapes, in Keras's order"""
    got = student.probe("cells.layout", cell, cell=cell, units=U, input_dim=D)
    want = keras_layout(reference, cell)
    problem = layout_problem(student, reference, cell)
    if problem:
        checks.fail(problem)
    if got["names"] != want["names"]:
        checks.fail(f"{cell}: weights are named {got['names']}; Keras's names are {want['names']} (name= in add_weight).")
    if got["state_size"] != want["state_size"]:
        checks.fail(f"{cell}: state_size is {got['state_size']}, Keras's is {want['state_size']}.")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(2)
def test_initial_biases(student, reference, cell):
    """biases start at zero (the LSTM's forget-gate slice at one)"""
    got = student.probe("cells.layout", cell, cell=cell, units=U, input_dim=D)
    want = keras_layout(reference, cell)
    if layout_problem(student, reference, cell):
        checks.fail(layout_problem(student, reference, cell))
    bias, expected = got["values"][-1], want["values"][-1]
    if not np.array_equal(bias, expected):
        if cell == "LSTMCell" and np.all(bias == 0):
            checks.fail("LSTMCell: the forget-gate bias starts at 0; Keras starts it at 1 (columns units..2*units), so the cell remembers by default.")
        checks.fail(f"{cell}: the initial bias is {np.round(bias, 3).tolist()}, expected {expected.tolist()}.")


@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(1)
def test_output_shapes(student, reference, cell, flags):
    """output and state shapes for each combination of return flags"""
    x = inputs(5)
    weights = random_weights(reference, cell)
    got = student_run(student, reference, cell, x, weights, flags, grads=False)["outputs"]
    want = keras_run(reference, cell, x, weights, flags, grads=False)["outputs"]
    got_shapes = [tuple(np.shape(o)) for o in got]
    want_shapes = [tuple(np.shape(o)) for o in want]
    if got_shapes != want_shapes:
        checks.fail(f"{cell} in keras.layers.RNN({flags_id(flags).replace(',', ', ')}) returns shapes {got_shapes}; expected {want_shapes}.")


@pytest.mark.parametrize("T", [1, 7, 30])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(3)
def test_outputs_match_keras(student, reference, cell, T):
    """outputs and final states equal Keras's cell with the same weights"""
    x = inputs(T)
    weights = random_weights(reference, cell)
    got = student_run(student, reference, cell, x, weights, grads=False)
    want = keras_run(reference, cell, x, weights, grads=False)
    if not all_agree(got["outputs"], want["outputs"]):
        names = ["outputs"] + (["h", "c"] if cell == "LSTMCell" else ["h"])
        wrong = [n for n, a, b in zip(names, got["outputs"], want["outputs"]) if not agree(a, b)] or names
        checks.fail(f"{cell}: {', '.join(wrong)} differ from keras.layers.{KERAS_NAME[cell]} for a sequence of length {T}. {diagnose(student, reference, cell, x, weights, got)}")


@pytest.mark.parametrize("T", [1, 7, 30])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(2)
def test_gradients_match_keras(student, reference, cell, T):
    """gradients with respect to the inputs and every weight equal Keras's"""
    x = inputs(T, seed=2)
    weights = random_weights(reference, cell, seed=3)
    got = student_run(student, reference, cell, x, weights)
    want = keras_run(reference, cell, x, weights)
    names = ["inputs"] + keras_layout(reference, cell)["names"]
    grads = got.get("grads") or []
    if len(grads) != len(want["grads"]):
        checks.fail(f"{cell}: expected gradients for {names}, got {len(grads)} (are all weights trainable?).")
    wrong = [n for n, a, b in zip(names, grads, want["grads"]) if a is None or not agree(a, b)]
    if wrong:
        hint = "" if all_agree(got["outputs"], want["outputs"]) else " The outputs differ too: fix the forward pass first."
        checks.fail(f"{cell}: the gradients with respect to {', '.join(wrong)} differ from Keras's (sequence length {T}).{hint}")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(3)
def test_config_round_trip(student, reference, cell):
    """type(cell).from_config(cell.get_config()) builds an equivalent cell"""
    x = inputs(4)
    weights = random_weights(reference, cell)
    got = student.probe("cells.config_roundtrip", cell, cell=cell, units=U, x=x, weights=weights)
    if got["clone_units"] != U:
        checks.fail(f"{cell}: the clone from get_config has units={got['clone_units']}, expected {U}: put units (and activation) in get_config.")
    if not all_agree(got["clone_outputs"], got["outputs"]):
        checks.fail(f"{cell}: the clone from get_config computes something else than the original.")
    if got["clone_name"] != "probe_cell":
        checks.fail(f"{cell}: the clone lost its name: get_config should start from super().get_config().")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(1)
def test_passes_kwargs_to_layer(student, cell):
    """name= and dtype= reach keras.layers.Layer"""
    got = student.probe("cells.kwargs_passed", cell, cell=cell, units=U)
    if got["name"] != "named_cell" or got["dtype"] != "float64":
        checks.fail(f"{cell}(units, name='named_cell', dtype='float64') gave name {got['name']!r} and dtype {got['dtype']!r}: pass **kwargs to super().__init__.")


# ---- stacked_rnn (16 points) -------------------------------------------------------------


@pytest.mark.unit("stacked_rnn")
@pytest.mark.points(4)
def test_stacked_rnn_builds_distinct_cells(student):
    """a keras.layers.RNN over num_layers new cells"""
    got = student.probe("cells.stacked", "stacked_rnn", units=U, num_layers=3, return_sequences=False, return_state=False, x=inputs(2))
    if not got["is_rnn"]:
        checks.fail("stacked_rnn: should return a keras.layers.RNN.")
    if got["num_cells"] != 3:
        checks.fail(f"stacked_rnn(..., num_layers=3) holds {got['num_cells']} cells; expected 3.")
    if got["distinct_cells"] != 3:
        checks.fail("stacked_rnn: the layers share one cell object; make a new cell_class(units) for each layer.")
    stack_error(got)


def stack_error(got):
    if "error" in got:
        hint = " (the layers share one cell object: make a new cell_class(units) per layer)" if got.get("distinct_cells", 0) < got.get("num_cells", 0) else ""
        checks.fail(f"stacked_rnn: running the stack failed{hint}: {got['error']}")


@pytest.mark.unit("stacked_rnn")
@pytest.mark.points(1)
@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
def test_stacked_rnn_flags(student, reference, flags):
    """return_sequences and return_state reach the layer and shape its outputs"""
    x = inputs(5)
    got = student.probe("cells.stacked", "stacked_rnn", units=U, num_layers=2, return_sequences=flags[0], return_state=flags[1], x=x)
    if not got["is_rnn"]:
        checks.fail("stacked_rnn: should return a keras.layers.RNN.")
    stack_error(got)
    if (got["return_sequences"], got["return_state"]) != flags:
        checks.fail(f"stacked_rnn: asked for {flags_id(flags)}, the layer has return_sequences={got['return_sequences']}, return_state={got['return_state']}.")
    want = reference.probe("cells.keras_stacked", units=U, num_layers=2, return_sequences=flags[0], return_state=flags[1], x=x)
    got_shapes = [tuple(np.shape(o)) for o in got["outputs"]]
    want_shapes = [tuple(np.shape(o)) for o in want["outputs"]]
    if got_shapes != want_shapes:
        checks.fail(f"stacked_rnn: output shapes {got_shapes}, expected {want_shapes}.")


@pytest.mark.unit("stacked_rnn")
@pytest.mark.points(8)
def test_stacked_rnn_computes_the_stack(student, reference):
    """with the same weights, the stack computes what Keras's stack computes"""
    x = inputs(6)
    shapes = reference.probe("cells.keras_stacked", units=U, num_layers=2, return_sequences=True, return_state=True, x=x)["weight_shapes"]
    rng = np.random.default_rng(4)
    weights = [(rng.standard_normal(s) * 0.4).astype(np.float32) for s in shapes]
    got = student.probe("cells.stacked", "stacked_rnn", units=U, num_layers=2, return_sequences=True, return_state=True, x=x, weights=weights)
    want = reference.probe("cells.keras_stacked", units=U, num_layers=2, return_sequences=True, return_state=True, x=x, weights=weights)
    if not got["is_rnn"]:
        checks.fail("stacked_rnn: should return a keras.layers.RNN.")
    stack_error(got)
    if not all_agree(got["outputs"], want["outputs"]):
        checks.fail("stacked_rnn: with Keras's LSTMCell and the same weights, the outputs differ from keras.layers.RNN([LSTMCell(u), LSTMCell(u)]).")

