"""Hidden suite for 02_cells: RNN, GRU and LSTM cells written as Keras layers.

100 points: 28 for each cell, 16 for stacked_rnn. Each cell runs inside
keras.layers.RNN in the student's child; Keras's own cell runs with the same weights
in the reference child, and outputs, final states and gradients (inputs and every
weight) must agree to rtol 1e-5 / atol 1e-6 for sequence lengths 1, 7 and 30. When
they don't, the suite tries the usual slips (gate order, GRU update convention,
reset before the matmul, bias rows swapped, LSTM states swapped) and names the
one that explains the difference.

The student's child only reports what the student's objects are and compute (weights
as created, outputs and gradients for given weights, the layer stacked_rnn returns);
Keras's cells run in the reference child (rnnkit_grader.reference.cells), and every
comparison is made here. A cell built on Keras's own recurrent cells or layers scores nothing
(written_from_scratch; its source is checked before it runs, by rnnkit_grader.shortcuts). A cell's layout, initial biases, output shapes, config round
trip and keyword arguments earn points only while the cell computes Keras's function
for at least one of the sequence lengths tried (and stacked_rnn's structure only while
the stack computes Keras's stack): a cell that builds the right weights but returns
zeros earns nothing. Feedback describes the expected layout by formula, never by
copying values out.
"""

import itertools

import numpy as np
import pytest

from rnnkit_grader import checks, shortcuts
from rnnkit_child.probes import cells as probes
from rnnkit_grader.reference import cells as kit_probes

B, D, U = 2, 3, 4
RTOL, ATOL = 1e-5, 1e-6
GATES = {"RNNCell": ["h"], "GRUCell": ["z", "r", "candidate"], "LSTMCell": ["i", "f", "c", "o"]}
CELLS = list(GATES)
KERAS_NAME = {"RNNCell": "SimpleRNNCell", "GRUCell": "GRUCell", "LSTMCell": "LSTMCell"}
FLAGS = [(False, False), (True, False), (False, True), (True, True)]
LENGTHS = [1, 7, 30]
EXPECTED_LAYOUT = {
    "RNNCell": "kernel (input_dim, units), recurrent_kernel (units, units), bias (units,)",
    "GRUCell": "kernel (input_dim, 3*units), recurrent_kernel (units, 3*units), bias (2, 3*units)",
    "LSTMCell": "kernel (input_dim, 4*units), recurrent_kernel (units, 4*units), bias (4*units,)",
}
EXPECTED_STATE_SIZE = {"RNNCell": "units", "GRUCell": "units", "LSTMCell": "[units, units] (h and c)"}


def flags_id(flags):
    return f"return_sequences={flags[0]},return_state={flags[1]}"


@pytest.fixture(autouse=True)
def written_from_scratch(request, student, memo):
    """A cell built on Keras's own recurrent cells or layers (subclassed, wrapped, held or made in
    call) scores nothing: each of its tests fails here with the rule. Its extracted source is
    checked here first (shortcuts.from_scratch_violation, parsed, never run); then the student's
    child reports what the built cell is made of (cells.anatomy) and shortcuts.judge_anatomy decides here."""
    cell = request.node.callspec.params.get("cell") if hasattr(request.node, "callspec") else None
    if cell not in CELLS:
        return
    key = ("anatomy", cell)
    if key not in memo:
        memo[key] = shortcuts.from_scratch_violation(cell, student.notebook)  # the source, here, first
    if memo[key] is None and ("anatomy-run", cell) not in memo:
        memo[("anatomy-run", cell)] = True
        try:
            memo[key] = shortcuts.judge_anatomy(cell, student.probe(probes.anatomy, unit=cell, cell=cell, units=U, input_dim=D))
        except checks.GradingFailure:  # a cell that can't even be made: its own tests say why
            memo[key] = None
    if memo[key]:
        checks.fail(memo[key])


def keras_layout(reference, cell):
    return reference.probe(kit_probes.layout, cell=cell, units=U, input_dim=D, source="keras")


def random_weights(reference, cell, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * 0.4).astype(np.float32) for shape in keras_layout(reference, cell)["shapes"]]


def inputs(T, seed=1):
    return np.random.default_rng(seed).standard_normal((B, T, D)).astype(np.float32)


def agree(a, b):
    return checks.agree(a, b, RTOL, ATOL, arrays_only=True)


def all_agree(xs, ys):
    return checks.all_agree(xs, ys, RTOL, ATOL, arrays_only=True)


def student_run(student, reference, cell, x, weights, flags=(True, True), grads=True):
    """Run the student's cell; when it fails, say first whether its weights have Keras's layout."""
    try:
        return student.probe(
            probes.run, unit=cell, cell=cell, units=U, x=x, weights=weights,
            return_sequences=flags[0], return_state=flags[1], grads=grads,
        )
    except checks.GradingFailure as exc:
        mismatch = layout_problem(student, reference, cell)
        raise checks.GradingFailure(f"{mismatch}\n{exc}" if mismatch else str(exc)) from None


def keras_run(reference, cell, x, weights, flags=(True, True), grads=True, **kw):
    return reference.probe(
        kit_probes.run, cell=cell, units=U, x=x, weights=weights, source="keras",
        return_sequences=flags[0], return_state=flags[1], grads=grads, **kw,
    )


def layout_problem(student, reference, cell):
    try:
        got = student.probe(probes.layout, unit=cell, cell=cell, units=U, input_dim=D)
    except checks.GradingFailure as exc:
        return str(exc)
    want = keras_layout(reference, cell)
    if got["shapes"] != want["shapes"]:
        return (
            f"{cell}: its weights are {list(zip(got['names'], map(tuple, got['shapes'])))} for input size {D} and {U} units, "
            f"but keras.layers.{KERAS_NAME[cell]} creates {EXPECTED_LAYOUT[cell]}, in that order."
        )
    return ""


def outputs_run(student, reference, cell, T, memo):
    """(the student's run for test_outputs_match_keras, or None; the failure message, or None)."""
    key = ("outputs", cell, T)
    if key not in memo:
        try:
            memo[key] = (student_run(student, reference, cell, inputs(T), random_weights(reference, cell), grads=False), None)
        except checks.GradingFailure as exc:
            memo[key] = (None, str(exc))
    return memo[key]


def outputs_agree(student, reference, cell, T, memo):
    got, _ = outputs_run(student, reference, cell, T, memo)
    if got is None:
        return False
    want = keras_run(reference, cell, inputs(T), random_weights(reference, cell), grads=False)
    return all_agree(got["outputs"], want["outputs"])


def require_values(student, reference, cell, memo, what):
    """Points for `what` come only with the cell's values: it must compute Keras's function for some length."""
    if not any(outputs_agree(student, reference, cell, T, memo) for T in LENGTHS):
        checks.fail(
            f"{cell}: {what} earn points only together with the cell's values, and its outputs differ from "
            f"keras.layers.{KERAS_NAME[cell]}'s for every sequence length tried ({', '.join(map(str, LENGTHS))}); "
            "see the outputs test."
        )


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
def test_weight_layout(student, reference, cell, memo):
    """creates kernel, recurrent_kernel and bias with Keras's shapes, in Keras's order"""
    got = student.probe(probes.layout, unit=cell, cell=cell, units=U, input_dim=D)
    want = keras_layout(reference, cell)
    problem = layout_problem(student, reference, cell)
    if problem:
        checks.fail(problem)
    if got["names"] != want["names"]:
        checks.fail(f"{cell}: weights are named {got['names']}; name them kernel, recurrent_kernel and bias, as Keras does (name= in add_weight).")
    if got["state_size"] != want["state_size"]:
        checks.fail(f"{cell}: state_size is {got['state_size']}; it should be {EXPECTED_STATE_SIZE[cell]}.")
    require_values(student, reference, cell, memo, "the weight layout and state_size")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(2)
def test_initial_biases(student, reference, cell, memo):
    """biases start at zero (the LSTM's forget-gate slice at one)"""
    got = student.probe(probes.layout, unit=cell, cell=cell, units=U, input_dim=D)
    want = keras_layout(reference, cell)
    if layout_problem(student, reference, cell):
        checks.fail(layout_problem(student, reference, cell))
    bias, expected = got["values"][-1], want["values"][-1]
    if not np.array_equal(bias, expected):
        if cell == "LSTMCell" and np.all(bias == 0):
            checks.fail("LSTMCell: the forget-gate bias starts at 0; Keras starts it at 1 (columns units..2*units), so the cell remembers by default.")
        rule = "zero except the forget-gate slice (columns units..2*units), which is one" if cell == "LSTMCell" else "all zeros"
        checks.fail(f"{cell}: the initial bias is {np.round(bias, 3).tolist()}; it should be {rule}.")
    require_values(student, reference, cell, memo, "the initial biases")


@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(1)
def test_output_shapes(student, reference, cell, flags, memo):
    """output and state shapes for each combination of return flags"""
    x = inputs(5)
    weights = random_weights(reference, cell)
    got = student_run(student, reference, cell, x, weights, flags, grads=False)["outputs"]
    want = keras_run(reference, cell, x, weights, flags, grads=False)["outputs"]
    got_shapes = [tuple(np.shape(o)) for o in got]
    want_shapes = [tuple(np.shape(o)) for o in want]
    if got_shapes != want_shapes:
        checks.fail(f"{cell} in keras.layers.RNN({flags_id(flags).replace(',', ', ')}) returns shapes {got_shapes}; expected {want_shapes}.")
    require_values(student, reference, cell, memo, "the output shapes")


@pytest.mark.parametrize("T", [1, 7, 30])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(3)
def test_outputs_match_keras(student, reference, cell, T, memo):
    """outputs and final states equal Keras's cell with the same weights"""
    x = inputs(T)
    weights = random_weights(reference, cell)
    got, failure = outputs_run(student, reference, cell, T, memo)
    if got is None:
        checks.fail(failure)
    want = keras_run(reference, cell, x, weights, grads=False)
    if not all_agree(got["outputs"], want["outputs"]):
        names = ["outputs"] + (["h", "c"] if cell == "LSTMCell" else ["h"])
        wrong = [n for n, a, b in zip(names, got["outputs"], want["outputs"]) if not agree(a, b)] or names
        checks.fail(f"{cell}: {', '.join(wrong)} differ from keras.layers.{KERAS_NAME[cell]} for a sequence of length {T}. {diagnose(student, reference, cell, x, weights, got)}")
    if cell == "RNNCell" and T == 7:  # the activation argument, away from its default
        check_activation(student, reference, x, weights)


def check_activation(student, reference, x, weights):
    """RNNCell(units, activation="relu") computes what keras.layers.SimpleRNNCell(units, activation="relu") does."""
    kwargs = {"activation": "relu"}
    got = student.probe(probes.run, unit="RNNCell", cell="RNNCell", units=U, x=x, weights=weights, grads=False, cell_kwargs=kwargs)
    want = keras_run(reference, "RNNCell", x, weights, grads=False, cell_kwargs=kwargs)
    if not all_agree(got["outputs"], want["outputs"]):
        hint = ""
        if all_agree(got["outputs"], keras_run(reference, "RNNCell", x, weights, grads=False)["outputs"]):
            hint = " They are the outputs of tanh: the activation argument is ignored; apply keras.activations.get(activation)."
        checks.fail(f'RNNCell(units, activation="relu"): the outputs differ from keras.layers.SimpleRNNCell with activation="relu".{hint}')


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
def test_config_round_trip(student, reference, cell, memo):
    """type(cell).from_config(cell.get_config()) builds an equivalent cell"""
    x = inputs(4)
    weights = random_weights(reference, cell)
    got = student.probe(probes.config_roundtrip, unit=cell, cell=cell, units=U, x=x, weights=weights)
    if got["clone_units"] != U:
        checks.fail(f"{cell}: the clone from get_config has units={got['clone_units']}, expected {U}: put units (and activation) in get_config.")
    if not all_agree(got["clone_outputs"], got["outputs"]):
        checks.fail(f"{cell}: the clone from get_config computes something else than the original.")
    if got["clone_name"] != "probe_cell":
        checks.fail(f"{cell}: the clone lost its name: get_config should start from super().get_config().")
    require_values(student, reference, cell, memo, "the config round trip")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.points(1)
def test_passes_kwargs_to_layer(student, reference, cell, memo):
    """name= and dtype= reach keras.layers.Layer"""
    got = student.probe(probes.kwargs_passed, unit=cell, cell=cell, units=U)
    if got["name"] != "named_cell" or got["dtype"] != "float64":
        checks.fail(f"{cell}(units, name='named_cell', dtype='float64') gave name {got['name']!r} and dtype {got['dtype']!r}: pass **kwargs to super().__init__.")
    require_values(student, reference, cell, memo, "name= and dtype=")


# ---- stacked_rnn (16 points) -------------------------------------------------------------

RNN_CLASS = "keras.src.layers.rnn.rnn.RNN"


def stack_weights(reference, x):
    shapes = reference.probe(kit_probes.keras_stacked, units=U, num_layers=2, return_sequences=True, return_state=True, x=x)["weight_shapes"]
    rng = np.random.default_rng(4)
    return [(rng.standard_normal(s) * 0.4).astype(np.float32) for s in shapes]


def stack_run(student, reference, flags, memo, num_layers=2, T=6, with_weights=True):
    """What the student's stack is and computes; cached per grading."""
    key = ("stack", flags, num_layers, T, with_weights)
    if key not in memo:
        x = inputs(T)
        kw = dict(units=U, num_layers=num_layers, x=x)
        if flags is not None:  # None: called without the flags, so stacked_rnn's own defaults apply
            kw.update(return_sequences=flags[0], return_state=flags[1])
        if with_weights:
            kw["weights"] = stack_weights(reference, x)
        memo[key] = student.probe(probes.stacked, unit="stacked_rnn", **kw)
    return memo[key]


def is_rnn(got):
    classes = got.get("classes")
    return isinstance(classes, list) and RNN_CLASS in classes


def stack_error(got):
    if not is_rnn(got):
        checks.fail("stacked_rnn: should return a keras.layers.RNN.")
    if "error" in got:
        ids = got.get("cell_ids") or []
        hint = " (the layers share one cell object: make a new cell_class(units) per layer)" if len(set(ids)) < len(ids) else ""
        checks.fail(f"stacked_rnn: running the stack failed{hint}: {got['error']}")


def stack_matches(student, reference, flags, memo):
    """Does the stack, given the same weights, compute what Keras's stack computes (for these flags)?"""
    got = stack_run(student, reference, flags, memo)
    if not is_rnn(got) or "error" in got:
        return False
    x = inputs(6)
    want = reference.probe(kit_probes.keras_stacked, units=U, num_layers=2, return_sequences=flags[0], return_state=flags[1], x=x, weights=stack_weights(reference, x))
    return all_agree(got.get("outputs"), want["outputs"])


def require_stack_values(student, reference, memo, what):
    if not stack_matches(student, reference, (True, True), memo):
        checks.fail(f"stacked_rnn: {what} earn points only together with the stack's values, and with Keras's LSTMCell and the same weights its outputs differ from Keras's stack (see the last stacked_rnn test).")


@pytest.mark.unit("stacked_rnn")
@pytest.mark.points(4)
def test_stacked_rnn_builds_distinct_cells(student, reference, memo):
    """a keras.layers.RNN over num_layers new cells, with the contract's defaults"""
    got = stack_run(student, reference, None, memo, num_layers=3, T=2, with_weights=False)
    if not is_rnn(got):
        checks.fail("stacked_rnn: should return a keras.layers.RNN.")
    ids = got.get("cell_ids") or []
    if len(ids) != 3:
        checks.fail(f"stacked_rnn(..., num_layers=3) holds {len(ids)} cells; expected 3.")
    if len(set(ids)) != 3:
        checks.fail("stacked_rnn: the layers share one cell object; make a new cell_class(units) for each layer.")
    stack_error(got)
    if (got["return_sequences"], got["return_state"]) != (False, False):
        checks.fail("stacked_rnn: called without return_sequences and return_state, the layer has "
                    f"return_sequences={got['return_sequences']}, return_state={got['return_state']}; "
                    "the contract's defaults are False and False.")
    require_stack_values(student, reference, memo, "the layers it is made of")


@pytest.mark.unit("stacked_rnn")
@pytest.mark.points(1)
@pytest.mark.parametrize("flags", FLAGS, ids=flags_id)
def test_stacked_rnn_flags(student, reference, flags, memo):
    """return_sequences and return_state reach the layer and shape its outputs"""
    got = stack_run(student, reference, flags, memo)
    stack_error(got)
    if (got["return_sequences"], got["return_state"]) != flags:
        checks.fail(f"stacked_rnn: asked for {flags_id(flags)}, the layer has return_sequences={got['return_sequences']}, return_state={got['return_state']}.")
    x = inputs(6)
    want = reference.probe(kit_probes.keras_stacked, units=U, num_layers=2, return_sequences=flags[0], return_state=flags[1], x=x, weights=stack_weights(reference, x))
    got_shapes = [tuple(np.shape(o)) for o in got["outputs"]]
    want_shapes = [tuple(np.shape(o)) for o in want["outputs"]]
    if got_shapes != want_shapes:
        checks.fail(f"stacked_rnn: output shapes {got_shapes}, expected {want_shapes}.")
    if not all_agree(got["outputs"], want["outputs"]):
        checks.fail(f"stacked_rnn: with {flags_id(flags)} the shapes are right but, with Keras's LSTMCell and the same weights, the values differ from Keras's stack; the flag points come with the values.")


@pytest.mark.unit("stacked_rnn")
@pytest.mark.points(8)
def test_stacked_rnn_computes_the_stack(student, reference, memo):
    """with the same weights, the stack computes what Keras's stack computes"""
    got = stack_run(student, reference, (True, True), memo)
    stack_error(got)
    if not stack_matches(student, reference, (True, True), memo):
        checks.fail("stacked_rnn: with Keras's LSTMCell and the same weights, the outputs differ from keras.layers.RNN([LSTMCell(u), LSTMCell(u)]).")
