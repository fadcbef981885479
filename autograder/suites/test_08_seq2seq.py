"""Hidden suite for 08_seq2seq: a GRU (or LSTM) encoder-decoder that reverses digit strings.

100 points:

| unit | points | what |
|---|---|---|
| shift_right | 20 | values exact for four shapes, start ids and dtypes (4 x 4); the dtype kept (2); the input left unchanged (2) |
| build_seq2seq | 45 | shapes of the three models for two sizes (2 x 5); the training model reads the source (5); encoder + decoder step by step give the training model's logits (8); the encoder and decoder hold train_model's own weight variables (7); train_model is causal: its logits up to step t don't move when only later decoder inputs change (5); after a budgeted training run the kit's free-running greedy decoding with the trained encoder and decoder clears a calibrated exact-match floor (10): never teacher-forced figures, which a model that reads its own targets would pass |
| greedy_decode | 35 | a list of 1-D int arrays (5); feeds back its own argmax, ids compared up to where each row ends (12); cuts each row at its own END, END not included, lengths compared (10); stops at max_len (4); decodes the same when the state is a list (4) |

The calling convention is the notebook's: `train_model([source_ids, decoder_inputs])`,
`state = encoder(source_ids)`, `logits, state = decoder([token_ids, state])` with token ids
(batch, 1) and logits (batch, V); the state is passed on as it is. greedy_decode is graded
with an encoder-decoder whose next id is a known function of the fed id and the state
(probes/seq2seq.py `known_models`), so the grader works out what it must return: the ids
before each row's first END, END not included, as the docstring says (a row that keeps its
END loses the 10 points of the stop test only; the other tests read its rows without it). The training run uses the kit's own
decoder inputs and training loop, so it grades build_seq2seq alone, and the exact match
is computed here from what comes back.

Nothing that decides a grade is computed beside the student's code. The student's child
hands back what build_seq2seq made as data (three Keras configs, the weights, which of
train_model's weight variables the encoder and decoder hold: probes/seq2seq.py `export`),
what shift_right returned and the ids greedy_decode wrote. The reference child
(rnnkit_grader/reference/seq2seq.py) rebuilds the models, runs them, trains them and
decodes with them; the held-out pairs of the training run never enter the student's child.
"""

import numpy as np
import pytest

from rnnkit.seq2seq_data import END, FIRST_DIGIT, PAD, START, VOCAB_SIZE, exact_match, make_reversal_data
from rnnkit_grader import checks
from rnnkit_child.probes import seq2seq as probes
from rnnkit_grader.reference import seq2seq as kit_probes

# ---- the budgeted training run -------------------------------------------------------------
#
# build_seq2seq(VOCAB_SIZE, units=64) is built after keras.utils.set_random_seed(SEED), exported
# as data, and trained by the kit in the reference child (reference/seq2seq.py `training_run`): Adam, learning rate 0.01 decayed to 0
# by a cosine over the run, sparse cross-entropy on the logits with PAD targets weighted 0,
# shuffled batches of 64, 4 epochs over 4,000 pairs of 1 to 5 digits (make_reversal_data seed
# 101); exact match on 500 held-out pairs (seed 102). One TensorFlow thread, as in grading.
# Graded on the kit's greedy decoding (free-running); for the reference it equals the teacher-forced exact match
# (tests/test_seq2seq.py checks they agree within 0.005).
# CALIBRATED on the reference notebook (GRU, masked source embedding), seeds 0-4:
#   exact match 0.952, 0.952, 0.954, 0.946, 0.958 (training 10-13 s on this 2-core machine).
# A correct LSTM solution (tools/variants/v08_seq2seq.py `correct`) scores 0.992 at seed 0; the
# reference without mask_zero 0.934. A training decoder that ignores the encoder's state
# scores 0.016. FLOOR sits 14.6 points under the lowest reference seed.
# calibrate() re-measures the reference against FLOOR and CALIBRATED_MEAN (tests/test_calibration.py).
RUN = {"units": 64, "epochs": 4, "batch_size": 64, "learning_rate": 0.01, "train_size": 4000, "eval_size": 500, "max_digits": 5}
SEED = 0
DATA_SEEDS = (101, 102)  # training pairs, held-out pairs
FLOOR = 0.80
CALIBRATED_MEAN = 0.952  # the reference's mean over seeds 0-4


def decoder_inputs(targets):
    """The kit's teacher-forcing inputs: START, then the targets without their last step."""
    targets = np.asarray(targets)
    return np.concatenate([np.full((len(targets), 1), START, dtype=targets.dtype), targets[:, :-1]], axis=1)


TRAIN_SOURCES, TRAIN_TARGETS = make_reversal_data(RUN["train_size"], max_len=RUN["max_digits"], seed=DATA_SEEDS[0])
EVAL_SOURCES, EVAL_TARGETS = make_reversal_data(RUN["eval_size"], max_len=RUN["max_digits"], seed=DATA_SEEDS[1])


def run_kwargs(seed=SEED):
    """The training run's data and budget (the model comes separately, as an export)."""
    return dict(
        sources=TRAIN_SOURCES, targets=TRAIN_TARGETS, decoder_inputs=decoder_inputs(TRAIN_TARGETS),
        eval_sources=EVAL_SOURCES, eval_decoder_inputs=decoder_inputs(EVAL_TARGETS), epochs=RUN["epochs"], batch_size=RUN["batch_size"],
        learning_rate=RUN["learning_rate"], seed=seed, max_len=RUN["max_digits"] + 1,
    )


def teacher_forced_exact_match(argmax_ids, targets):
    """Rows whose argmax under teacher forcing is right at every step up to and including END.

    Such a row is exactly what greedy decoding writes: each step's input is then its own
    (correct) prediction."""
    argmax_ids = np.asarray(argmax_ids)
    lengths = (np.asarray(targets) != PAD).sum(axis=1)
    return float(np.mean([np.array_equal(argmax_ids[i, : lengths[i]], targets[i, : lengths[i]]) for i in range(len(targets))]))


def budget_text():
    return (
        f"{RUN['epochs']} epochs of Adam (learning rate {RUN['learning_rate']}, cosine decay) on {RUN['train_size']} pairs of 1 to "
        f"{RUN['max_digits']} digits, batches of {RUN['batch_size']}, build_seq2seq(VOCAB_SIZE, units={RUN['units']})"
    )


RUN_TIMEOUT = 120  # seconds for one training run in the reference child (the reference model takes about 15 s)


def reference_run(reference, seed=SEED):
    """The reference's build_seq2seq, exported and trained by the kit, both in the reference child."""
    spec = reference.probe(probes.export, vocab_size=VOCAB_SIZE, units=RUN["units"], seed=seed)
    return reference.probe(kit_probes.training_run, timeout=RUN_TIMEOUT, spec=spec, **run_kwargs(seed))


def reference_exact_matches(reference, seeds):
    """The reference's exact match (free-running greedy decoding, as graded) for each seed."""
    return [exact_match(reference_run(reference, seed)["decoded"], EVAL_TARGETS) for seed in seeds]


CALIBRATION_SEEDS = (0, 1, 2)  # the seeds the kit's calibration test re-runs (of the five calibrated)


def calibrate(reference):
    """FLOOR and CALIBRATED_MEAN re-measured on the reference under the budget, as the training test measures a
    student's (checks.Calibration; tests/test_calibration.py re-checks them)."""
    scores = reference_exact_matches(reference, CALIBRATION_SEEDS)
    how = "recalibrate and update the figures next to FLOOR"
    return [
        checks.Calibration(("FLOOR",), f"the reference's lowest exact match under the budget (seeds {CALIBRATION_SEEDS})", min(scores),
                           holds=min(scores) >= FLOOR, failure=f"under the floor {FLOOR}", recalibrate=how),
        checks.Calibration(("CALIBRATED_MEAN",), f"the reference's mean exact match under the budget (seeds {CALIBRATION_SEEDS})",
                           float(np.mean(scores)), holds=True, calibrated=CALIBRATED_MEAN, drift=0.03, recalibrate=how),
    ]


@pytest.fixture(scope="module")
def exports(student):
    """build_seq2seq's models as data, by (vocab_size, units, seed), asked for once each."""
    memo = {}

    def get(vocab_size, units, seed=0):
        key = (vocab_size, units, seed)
        if key not in memo:
            spec = student.probe(probes.export, unit="build_seq2seq", vocab_size=vocab_size, units=units, seed=seed)
            memo[key] = checked_export(spec)
        return memo[key]

    return get


def checked_export(spec):
    """The export's fields, with the types the reference child relies on, or a failure."""
    if not isinstance(spec, dict) or not all(k in spec for k in ("types", "json", "json_errors", "weights", "paths", "shared")):
        checks.fail(f"build_seq2seq: the grader could not read what build_seq2seq made ({checks.describe(spec)}).")
    for key, size in (("types", 3), ("json", 3), ("json_errors", 3), ("weights", 3), ("paths", 3), ("shared", 2)):
        if not isinstance(spec[key], list) or len(spec[key]) != size:
            checks.fail(f"build_seq2seq: the grader could not read what build_seq2seq made ({key}).")
    return spec


def rebuilt(info):
    """A reference-child answer about the student's models, or the failure it names."""
    if isinstance(info, dict) and "error" in info:
        checks.fail(f"build_seq2seq: {info['error']}")
    return info


# ---- shift_right (20 points) ---------------------------------------------------------------

_TARGETS = make_reversal_data(6, seed=5)[1]  # int32, digits then END then PAD
SHIFT_CASES = {
    "digit targets, int32, START": (_TARGETS, START),
    "int64, start id 7": (np.arange(10, dtype=np.int64).reshape(2, 5) + 3, 7),
    "one step per row": (np.array([[4], [9], [2]], dtype=np.int32), START),
    "a single row, uint8": (np.array([[12, 11, 10, 2, 0, 0, 0]], dtype=np.uint8), 1),
}


def expected_shift(targets, start_id):
    return np.concatenate([np.full((len(targets), 1), start_id, dtype=targets.dtype), targets[:, :-1]], axis=1)


def shift_slip(targets, start_id, got):
    """Name the slip that explains got, or ''."""
    if got.shape != targets.shape:
        if got.shape == (targets.shape[0], targets.shape[1] + 1):
            return " The targets' last step must be dropped, so that the decoder inputs are as long as the targets."
        return ""
    if np.array_equal(got, np.roll(targets, 1, axis=1)):
        return " np.roll wraps the last target round to column 0: put start_id there."
    if np.array_equal(got, targets):
        return " The decoder inputs equal the targets: the model would learn to copy its input. Shift them one step right behind start_id."
    if np.array_equal(got[:, 1:], targets[:, 1:]) and np.all(got[:, 0] == start_id):
        return " Only the first column was replaced by start_id; the other columns must move one step right as well."
    if got.shape[1] > 1 and np.array_equal(got[:, :-1], targets[:, 1:]):
        return " Shifted the wrong way: column t must hold targets[:, t - 1] (the step before), not targets[:, t + 1]."
    if np.array_equal(got[:, 1:], targets[:, :-1]):
        return f" The columns are shifted right, but column 0 holds {got[:, 0].tolist()} instead of start_id = {start_id}."
    return ""


def shifted(student, targets, start_id):
    value = student.call("shift_right", targets.copy(), start_id)
    return checks.array(value, "shift_right", "the decoder inputs")


@pytest.mark.unit("shift_right")
@pytest.mark.points(4)
@pytest.mark.parametrize("case", list(SHIFT_CASES))
def test_shift_right_values(student, case):
    """start_id in column 0, then targets[:, :-1]"""
    targets, start_id = SHIFT_CASES[case]
    got = shifted(student, targets, start_id)
    want = expected_shift(targets, start_id)
    if got.shape != want.shape or not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
        checks.fail(
            f"shift_right({case}, start_id={start_id}): for targets {targets.tolist()} expected {want.tolist()}, "
            f"got {got.tolist() if got.size < 80 else f'an array of shape {got.shape}'}.{shift_slip(targets, start_id, got)}"
        )


@pytest.mark.unit("shift_right")
@pytest.mark.points(2)
def test_shift_right_keeps_dtype(student):
    """the decoder inputs have the targets' dtype"""
    for case in ("digit targets, int32, START", "int64, start id 7", "a single row, uint8"):
        targets, start_id = SHIFT_CASES[case]
        got = shifted(student, targets, start_id)
        if got.dtype != targets.dtype:
            checks.fail(
                f"shift_right: targets of dtype {targets.dtype} gave decoder inputs of dtype {got.dtype}; keep the targets' dtype "
                "(np.full((n, 1), start_id, dtype=targets.dtype) before concatenating; np.full and np.array default to int64)."
            )


@pytest.mark.unit("shift_right")
@pytest.mark.points(2)
def test_shift_right_leaves_its_input(student):
    """targets is not modified (by a shift_right that shifts)"""
    targets, start_id = SHIFT_CASES["digit targets, int32, START"]
    got = student.probe(probes.shift_in_place, unit="shift_right", targets=targets, start_id=start_id)
    result = got.get("result") if isinstance(got, dict) else None
    if not isinstance(result, np.ndarray) or result.shape != targets.shape or not np.array_equal(result[:, 1:], targets[:, :-1]):
        checks.fail(
            f"shift_right(targets, start_id) should return the targets shifted one step right (column t holds targets[:, t - 1]); "
            f"it returned {checks.describe(result)}, so whether it leaves its input alone can't be told."
        )
    if not np.array_equal(got["after"], targets):
        checks.fail(
            "shift_right changed the array it was given: the caller still needs the targets as the training targets. "
            "Build a new array (np.concatenate, or targets.copy() before writing into it)."
        )


# ---- build_seq2seq (45 points) -------------------------------------------------------------

SHAPE_CASES = {"V=13, units=24": (13, 24), "V=20, units=16": (20, 16)}
BATCH, SOURCE_LEN, TARGET_LENS = 3, 6, (7, 4)


@pytest.mark.unit("build_seq2seq")
@pytest.mark.points(5)
@pytest.mark.parametrize("case", list(SHAPE_CASES))
def test_build_seq2seq_shapes(student, reference, exports, case):
    """three keras.Models: logits (batch, T, V), the encoder's state (batch, units), the decoder's (logits (batch, V), new state)"""
    vocab_size, units = SHAPE_CASES[case]
    call = f"build_seq2seq({vocab_size}, units={units})"
    info = rebuilt(reference.probe(kit_probes.measure_shapes, spec=exports(vocab_size, units), vocab_size=vocab_size, batch=BATCH, source_len=SOURCE_LEN, target_lens=list(TARGET_LENS)))
    names = ["train_model", "encoder", "decoder"]
    for name, key, kind in zip(names, ("train_is_model", "encoder_is_model", "decoder_is_model"), info["types"]):
        if not info[key]:
            checks.fail(f"{call}: {name} is a {kind}; return three keras.Models (train_model, encoder, decoder).")
    for length in TARGET_LENS:
        out = info["train"][str(length)]
        want = [BATCH, length, vocab_size]
        if isinstance(out, str):
            checks.fail(f"{call}: train_model([source ids {(BATCH, SOURCE_LEN)}, decoder inputs {(BATCH, length)}]) failed: {out}. It takes a list [source ids, decoder input ids] of any lengths (keras.Input(shape=(None,), dtype='int32')).")
        if out != want:
            hint = " Give the decoder GRU return_sequences=True: there are logits for every decoder step." if len(out) == 2 else ""
            checks.fail(f"{call}: train_model gives logits of shape {tuple(out)} for decoder inputs {(BATCH, length)}; expected (batch, T, V) = {tuple(want)}.{hint}")
    if info.get("train_probabilities"):
        checks.fail(f"{call}: train_model's outputs are probabilities (each row sums to 1); return logits: no softmax on the last Dense layer.")
    state = info["state"]
    if isinstance(state, str):
        checks.fail(f"{call}: encoder(source ids of shape {(BATCH, SOURCE_LEN)}) failed: {state}")
    if not state or any(shape != [BATCH, units] for shape in state):
        checks.fail(f"{call}: the encoder returns {'a list of ' if info['state_is_list'] else ''}shape(s) {state}; the state is the encoder RNN's final state, (batch, units) = {(BATCH, units)} (a list [h, c] of two for an LSTM).")
    logits = info.get("decoder_logits")
    if isinstance(logits, str):
        checks.fail(f"{call}: decoder([token ids of shape {(BATCH, 1)}, state]) failed: {logits}. The decoder takes [token_ids, state], with the state as the encoder returns it, and returns [logits, new_state].")
    if logits != [BATCH, vocab_size]:
        hint = " Drop the time axis (keras.layers.Reshape((units,))) before the Dense layer." if logits == [BATCH, 1, vocab_size] else ""
        checks.fail(f"{call}: one decoder step gives logits of shape {tuple(logits)}; expected (batch, V) = {(BATCH, vocab_size)}.{hint}")
    if info["decoder_state"] != state:
        checks.fail(f"{call}: the decoder returns a state of shape(s) {info['decoder_state']}, the encoder {state}: the new state must have the same form as the state the decoder was given.")


# Sources of 1 to 8 digits (PAD after them); decoder inputs without PAD, so masking choices
# in the decoder can't matter.
CONSISTENCY_SOURCES, _ = make_reversal_data(5, seed=21)
OTHER_SOURCES, _ = make_reversal_data(5, seed=22)
_, _FULL_TARGETS = make_reversal_data(5, min_len=8, max_len=8, seed=23)
CONSISTENCY_INPUTS = decoder_inputs(_FULL_TARGETS)  # START, then 8 digits
CONSISTENCY = dict(sources=CONSISTENCY_SOURCES, decoder_inputs=CONSISTENCY_INPUTS, other_sources=OTHER_SOURCES)
CONSISTENCY_SIZE = (VOCAB_SIZE, 16)
TOLERANCE = 1e-4  # float32 logits of the same computation, batched or step by step


def consistency(reference, exports):
    got = rebuilt(reference.probe(kit_probes.consistency, spec=exports(*CONSISTENCY_SIZE), **CONSISTENCY))
    want_shape = (len(CONSISTENCY_SOURCES), CONSISTENCY_INPUTS.shape[1], VOCAB_SIZE)
    if isinstance(got["train"], str):
        checks.fail(f"build_seq2seq: train_model([source ids, decoder inputs]) failed: {got['train']}")
    train = checks.array(got["train"], "build_seq2seq", "train_model's logits", shape=want_shape)
    return got, train, want_shape


@pytest.mark.unit("build_seq2seq")
@pytest.mark.points(5)
def test_build_seq2seq_reads_the_source(reference, exports):
    """the training model's logits depend on the source ids (the decoder starts from the encoder's state)"""
    got, train, want_shape = consistency(reference, exports)
    other = checks.array(got["other"], "build_seq2seq", "train_model's logits", shape=want_shape)
    if np.max(np.abs(train - other)) < 1e-6:
        checks.fail(
            "build_seq2seq: train_model gives the same logits whatever the source ids: the decoder never sees the source. "
            "Pass the encoder's final state to the decoder RNN as initial_state (in train_model as in the decoder)."
        )


def mismatch(got, train, want_shape):
    """(max difference or None, message about the step-by-step logits)."""
    steps = got["steps"]
    if isinstance(steps, str):
        return None, f"running the encoder and then the decoder one id at a time failed: {steps}"
    steps = checks.array(steps, "build_seq2seq", "the decoder's logits")
    if steps.shape != want_shape:
        return None, f"the decoder's logits, stacked over the steps, have shape {steps.shape}; expected {want_shape}"
    return float(np.max(np.abs(steps - train))), ""


@pytest.mark.unit("build_seq2seq")
@pytest.mark.points(8)
def test_build_seq2seq_decoder_matches_training_model(reference, exports):
    """state = encoder(source), then the decoder fed the same ids one at a time, gives the training model's logits"""
    got, train, want_shape = consistency(reference, exports)
    diff, problem = mismatch(got, train, want_shape)
    if problem:
        checks.fail(f"build_seq2seq: {problem}.")
    if diff > TOLERANCE * max(1.0, float(np.max(np.abs(train)))):
        first = float(np.max(np.abs(np.asarray(got["steps"])[:, 0] - train[:, 0])))
        ignores_source = np.max(np.abs(train - np.asarray(got["other"]))) < 1e-6
        if ignores_source:
            hint = "train_model's decoder doesn't start from the encoder's final state (its logits don't depend on the source), while the inference decoder does."
        else:
            hint = (
                "Build the encoder and the decoder from the very same layer objects as train_model (no new Embedding, RNN or Dense), "
                "and start train_model's decoder RNN from the encoder's final state."
            )
        where = "already at the first step" if first > TOLERANCE else "from the second step on (the state passed from step to step differs)"
        checks.fail(
            f"build_seq2seq: encoder + decoder, fed train_model's decoder inputs one id at a time, give logits that differ from "
            f"train_model's by up to {diff:.3g}, {where}. {hint}"
        )


@pytest.mark.unit("build_seq2seq")
@pytest.mark.points(7)
def test_build_seq2seq_shares_weights(reference, exports):
    """the encoder and decoder use train_model's own weight variables, so training train_model trains them"""
    got = weight_sharing(exports(*CONSISTENCY_SIZE))
    rebuilt(reference.probe(kit_probes.consistency, spec=exports(*CONSISTENCY_SIZE), **CONSISTENCY))  # the models must rebuild
    own = [(name, got[key]) for name, key in (("encoder", "encoder_own"), ("decoder", "decoder_own")) if got[key]]
    if own == [("encoder", got["encoder_own"])]:
        # An encoder RNN missing from train_model is what a train_model that never reads the
        # source looks like; test_build_seq2seq_reads_the_source grades that mistake.
        ran, train, want_shape = consistency(reference, exports)
        other = checks.array(ran["other"], "build_seq2seq", "train_model's logits", shape=want_shape)
        if np.max(np.abs(train - other)) < 1e-6:
            return
    if own:
        listed = "; ".join(f"the {name} has {len(paths)} weight(s) train_model doesn't have ({', '.join(paths[:4])})" for name, paths in own)
        checks.fail(
            f"build_seq2seq: {listed}. Training train_model would never change them (copying weights at build time doesn't help: "
            "the copies stay behind once training starts). Create each layer once and call the same layer objects in all three models."
        )
    if got["train_unused"]:
        checks.fail(
            f"build_seq2seq: train_model has weights that neither the encoder nor the decoder uses ({', '.join(got['train_unused'][:4])}): "
            "what training learns there is lost at decoding time. The encoder and decoder need every layer of train_model."
        )


def weight_sharing(spec):
    """Which weights the three models share: {"encoder_own", "decoder_own": paths of the encoder's /
    decoder's weights that train_model doesn't have; "train_unused": paths of train_model's weights
    that neither uses}, from the export's sharing map."""
    paths, shared = spec["paths"], spec["shared"]
    try:
        used = {int(i) for row in shared for i in row if int(i) >= 0}
        return {
            "encoder_own": [str(p) for p, i in zip(paths[1], shared[0]) if int(i) < 0],
            "decoder_own": [str(p) for p, i in zip(paths[2], shared[1]) if int(i) < 0],
            "train_unused": [str(p) for i, p in enumerate(paths[0]) if i not in used],
        }
    except (TypeError, ValueError):
        checks.fail("build_seq2seq: the grader could not read which weights the three models share.")


@pytest.mark.unit("build_seq2seq")
@pytest.mark.points(5)
def test_build_seq2seq_is_causal(reference, exports):
    """train_model's logits up to step t stay the same when only the decoder inputs after t change"""
    _, train, want_shape = consistency(reference, exports)
    for first_changed in CAUSAL_STEPS:
        changed = dict(CONSISTENCY, decoder_inputs=later_inputs_changed(first_changed))
        got = rebuilt(reference.probe(kit_probes.consistency, spec=exports(*CONSISTENCY_SIZE), **changed))
        if isinstance(got["train"], str):
            checks.fail(f"build_seq2seq: train_model([source ids, decoder inputs]) failed: {got['train']}")
        other = checks.array(got["train"], "build_seq2seq", "train_model's logits", shape=want_shape)
        diff = np.abs(other[:, :first_changed] - train[:, :first_changed])
        if np.max(diff) > TOLERANCE * max(1.0, float(np.max(np.abs(train)))):
            step = int(np.argmax(diff.max(axis=(0, 2)) > TOLERANCE * max(1.0, float(np.max(np.abs(train))))))
            checks.fail(
                f"build_seq2seq: train_model's logits at decoder step {step} changed when only the decoder inputs from step "
                f"{first_changed} on were changed: the training model sees later decoder inputs, which under teacher forcing are the "
                "very targets it should predict, so its loss looks perfect while greedy decoding, which has no future ids, fails. "
                "The decoder must read its inputs left to right only: a plain (unidirectional) GRU or LSTM, no Bidirectional "
                "wrapper, no reversed sequence, no convolution or attention over the whole decoder sequence."
            )


# Decoder inputs changed from step t on (each digit moved by 3, START kept in column 0): a causal
# train_model gives the same logits at steps 0 .. t-1.
CAUSAL_STEPS = (1, 5)


def later_inputs_changed(first_changed):
    inputs = CONSISTENCY_INPUTS.copy()
    tail = inputs[:, first_changed:]
    inputs[:, first_changed:] = FIRST_DIGIT + (tail - FIRST_DIGIT + 3) % 10
    return inputs


@pytest.fixture(scope="module")
def student_run(reference, exports):
    spec = exports(VOCAB_SIZE, RUN["units"], SEED)
    return rebuilt(reference.probe(kit_probes.training_run, timeout=RUN_TIMEOUT, spec=spec, **run_kwargs()))


@pytest.mark.unit("build_seq2seq")
@pytest.mark.points(10)
def test_build_seq2seq_learns_to_reverse(student_run):
    """trained by the kit, the encoder and decoder reverse held-out strings in free-running greedy decoding"""
    decoded = student_run["decoded"]
    if isinstance(decoded, str):
        checks.fail(f"build_seq2seq: greedy decoding with the trained encoder and decoder (the kit's loop) failed: {decoded}")
    if not isinstance(decoded, list) or len(decoded) != len(EVAL_TARGETS):
        checks.fail(f"build_seq2seq: the kit's greedy decoding gave {checks.describe(decoded)}; expected one row per source.")
    score = exact_match(decoded, EVAL_TARGETS)
    if score >= FLOOR:
        return
    argmax_ids = checks.array(student_run["teacher_forced"], "build_seq2seq", "the trained model's predictions", shape=EVAL_TARGETS.shape)
    forced = teacher_forced_exact_match(argmax_ids, EVAL_TARGETS)
    if forced >= FLOOR:
        why = (
            f"Read under teacher forcing (the true previous digit fed at every step) train_model gets {forced:.1%} right, so what "
            "it learned doesn't survive free-running decoding: either the encoder and decoder don't use train_model's trained "
            "layers or compute something else (build them from the same layer objects, and start the decoder from the encoder's "
            "final state in both), or train_model reads later decoder inputs, that is the targets themselves (see the causality test)."
        )
    else:
        why = (
            f"The training losses were {np.round(student_run['losses'], 3).tolist()}. Check that the decoder starts from the "
            "encoder's final state, that the decoder RNN returns sequences, and that the last layer gives logits."
        )
    checks.fail(
        f"build_seq2seq: after the kit's training ({budget_text()}) the kit's greedy decoding with your encoder and decoder "
        f"reverses {score:.1%} of {RUN['eval_size']} held-out strings exactly (every digit, then END); at least {FLOOR:.0%} is "
        f"required. {why}"
    )


# ---- greedy_decode (35 points) -------------------------------------------------------------

KNOWN_TEXT = "a model that writes 3 + (3 * fed id + v) mod 10 while source digits are left (v = the first source digit) and END after that"
# That model's rule, written once: the probe (probes/seq2seq.known_models) builds its encoder and
# decoder from this table, and simulate() below reads the same table. next[t, s] is the id
# written after the fed id t when the first source id is s; runner_up[i] gets the second-best
# logit when i wins (sampling instead of the argmax would show).
_IDS = np.arange(VOCAB_SIZE)
KNOWN_RULE = {
    "next": FIRST_DIGIT + (3 * _IDS[:, None] + (_IDS[None, :] - FIRST_DIGIT)) % 10,
    "runner_up": FIRST_DIGIT + (_IDS + 4) % 10,
    "logits": [3.0, 2.5],
    "pad": PAD,
    "end": END,
}


def simulate(sources, max_len, mode="greedy"):
    """What greedy_decode returns on probes/seq2seq.known_models, written right or with a slip.

    Modes: "greedy" (right), "start" (START fed at every step), "frozen" (the encoder's state
    fed at every step), "no_stop" (all max_len ids, END and after kept).
    """
    sources = np.asarray(sources)
    remaining = (sources != KNOWN_RULE["pad"]).sum(axis=1).astype(np.int64)
    first = sources[:, 0].astype(np.int64)
    ids = np.full(len(sources), START)
    columns = []
    for _ in range(max_len):
        nxt = np.where(remaining > 0, KNOWN_RULE["next"][ids, first], KNOWN_RULE["end"])
        columns.append(nxt)
        if mode != "frozen":
            remaining = remaining - 1
        if mode != "start":
            ids = nxt
    table = np.stack(columns, axis=1)
    if mode == "no_stop":
        return [row for row in table]
    rows = []
    for row in table:
        stop = np.flatnonzero(row == END)
        rows.append(row[: stop[0] if stop.size else max_len])
    return rows


SLIPS = {
    "start": "Every step was fed START: feed each step's argmax back as the next input id.",
    "frozen": "Every step starts from the encoder's state: pass the state the decoder returns on to the next step.",
    "no_stop": "The rows go on after END: cut each row at its first END.",
}


def decoded_rows(student, sources, max_len, split_state=False, strict=False, keep_end=False):
    value = student.probe(probes.greedy_known, unit="greedy_decode", rule=KNOWN_RULE, sources=sources, max_len=max_len, split_state=split_state)
    return rows_of(value, len(sources), strict, keep_end)


def rows_of(value, num_rows, strict=False, keep_end=False):
    """The returned rows as 1-D int64 arrays without a trailing END (with it when keep_end), or a failure.

    A 2-D array fails only when strict (the test of the return type); the other tests read
    its rows as they are. A kept trailing END is charged once, by the test that rows stop
    at END (keep_end there); the others read the rows without it."""
    if isinstance(value, np.ndarray) and value.ndim == 2:
        if strict:
            checks.fail(
                f"greedy_decode returned one 2-D array of shape {value.shape}; return a list with one 1-D array per source row, "
                "each as long as that row's answer (cut at its END)."
            )
        value = list(value)
    if not isinstance(value, list) or len(value) != num_rows:
        checks.fail(f"greedy_decode should return a list of {num_rows} arrays, one per source row, but it returned {checks.describe(value)}.")
    rows = []
    for i, row in enumerate(value):
        row = checks.array(row, "greedy_decode", f"row {i} of the output")
        if row.ndim != 1 or (row.size and row.dtype.kind not in "iu"):
            checks.fail(f"greedy_decode: row {i} is {checks.describe(row)}; each row should be a 1-D array of integer ids.")
        rows.append(row.astype(np.int64))
    return rows if keep_end else normalized(rows)


def normalized(rows):
    """The rows without a trailing END: a row may end with the END it stopped at."""
    return [row[:-1] if row.size and row[-1] == END else row for row in rows]


def same(rows, want):
    return len(rows) == len(want) and all(np.array_equal(a, b) for a, b in zip(rows, want))


def diagnose(sources, max_len, rows):
    for mode, message in SLIPS.items():
        if same(rows, normalized(simulate(sources, max_len, mode))):
            return message
    if any(END in row for row in rows):
        return "Some rows hold END with more ids after it: cut each row at its own first END, even when other rows go on."
    want = simulate(sources, max_len)
    if all(len(a) == len(b) for a, b in zip(rows, want)):
        return "The rows have the right lengths but other ids: take the argmax of the logits (no sampling) and feed it back."
    return "Start from START, take the argmax, feed it back with the new state, stop a row at END or after max_len steps."


def as_lists(rows):
    return [np.asarray(r).tolist() for r in rows]


FEED_SOURCES = np.array([[5, 6, 7, 8, 0], [9, 3, 0, 0, 0], [12, 4, 4, 4, 11], [3, 5, 0, 0, 0]], dtype=np.int32)  # 4, 2, 5, 2 digits
END_SOURCES = np.array([[7, 0, 0, 0, 0, 0], [4, 5, 6, 0, 0, 0], [10, 9, 8, 7, 6, 5], [8, 8, 0, 0, 0, 0]], dtype=np.int32)  # 1, 3, 6, 2
LONG_SOURCES = np.array([[6, 7, 8, 9, 10, 11, 12, 3], [11, 3, 3, 3, 3, 3, 3, 0]], dtype=np.int32)  # 8 and 7 digits


@pytest.mark.unit("greedy_decode")
@pytest.mark.points(5)
def test_greedy_decode_returns_rows(student):
    """a list with one 1-D integer array per source row, each starting with the model's first id"""
    rows = decoded_rows(student, FEED_SOURCES, 8, strict=True)
    require_first_ids(rows, FEED_SOURCES, 8)


def require_first_ids(rows, sources, max_len):
    """Each row starts with the id the model writes first (after START from the encoder's state)."""
    want = simulate(sources, max_len)
    if not all(len(row) and len(w) and row[0] == w[0] for row, w in zip(rows, want)):
        checks.fail(
            f"greedy_decode: with {KNOWN_TEXT} and the sources {as_lists(sources)}, each row should start with the argmax of the "
            f"first step, {[int(w[0]) for w in want]}; got {as_lists(rows)}. Feed START first, with the encoder's state."
        )


def expected_text(sources, max_len):
    return f"with {KNOWN_TEXT}, the sources {as_lists(sources)} and max_len={max_len}, expected {as_lists(simulate(sources, max_len))}"


@pytest.mark.unit("greedy_decode")
@pytest.mark.points(12)
def test_greedy_decode_feeds_back_its_argmax(student):
    """starts from START and feeds each step's argmax back as the next input (the ids, up to where each row ends)"""
    rows = decoded_rows(student, FEED_SOURCES, 8)
    want = simulate(FEED_SOURCES, 8)
    if any(len(row) < min(2, len(w)) for row, w in zip(rows, want)):
        checks.fail(f"greedy_decode: {expected_text(FEED_SOURCES, 8)}, got {as_lists(rows)}: rows end before their second id. {diagnose(FEED_SOURCES, 8, rows)}")
    if not all(np.array_equal(row[: len(w)], w[: len(row)]) for row, w in zip(rows, want)):
        checks.fail(f"greedy_decode: {expected_text(FEED_SOURCES, 8)}, got {as_lists(rows)}. {diagnose(FEED_SOURCES, 8, rows)}")


@pytest.mark.unit("greedy_decode")
@pytest.mark.points(10)
def test_greedy_decode_stops_each_row_at_end(student):
    """each row is cut at its own first END, while the other rows go on"""
    raw = decoded_rows(student, END_SOURCES, 9, keep_end=True)
    rows = normalized(raw)
    want = simulate(END_SOURCES, 9)
    if same(rows, want) and not same(raw, want):
        checks.fail(
            f"greedy_decode: {expected_text(END_SOURCES, 9)}, got {as_lists(raw)}: the rows that stopped keep their END. The "
            "docstring asks for the ids each row wrote before its first END, END not included: cut the row just before it."
        )
    if [len(r) for r in rows] != [len(w) for w in want] or any(END in row for row in rows):
        checks.fail(
            f"greedy_decode: {expected_text(END_SOURCES, 9)} (rows of {[len(w) for w in want]} ids), got {as_lists(rows)}. "
            f"{diagnose(END_SOURCES, 9, rows)}"
        )


@pytest.mark.unit("greedy_decode")
@pytest.mark.points(4)
def test_greedy_decode_stops_at_max_len(student):
    """a row that never writes END stops after max_len ids"""
    rows = decoded_rows(student, LONG_SOURCES, 4)
    require_first_ids(rows, LONG_SOURCES, 4)
    if [len(r) for r in rows] != [4, 4]:
        checks.fail(
            f"greedy_decode(..., max_len=4) on sources of 8 and 7 digits, whose answers need more than 4 steps, returned rows of "
            f"{[len(r) for r in rows]} ids; expected 4 each: decode at most max_len steps."
        )


@pytest.mark.unit("greedy_decode")
@pytest.mark.points(4)
def test_greedy_decode_passes_a_list_state_on(student):
    """works, and decodes the same, when the encoder's state is a list (as an LSTM's [h, c])"""
    single = decoded_rows(student, FEED_SOURCES, 8)
    require_first_ids(single, FEED_SOURCES, 8)
    outcome = student.probe(probes.greedy_known_outcome, unit="greedy_decode", rule=KNOWN_RULE, sources=FEED_SOURCES, max_len=8, split_state=True)
    if "error" in outcome:
        checks.fail(
            f"greedy_decode failed with an encoder whose state is a list of two tensors, as an LSTM's [h, c]: {outcome['error']}. "
            "Pass whatever the encoder and the decoder return on as it is (logits, state = decoder([ids, state])), without unpacking or reshaping it."
        )
    try:
        split = rows_of(outcome["value"], len(FEED_SOURCES))
    except AssertionError:
        split = None
    if split is None or not same(split, single):
        checks.fail(
            f"greedy_decode decodes the same model differently when its state is a list [r, v] instead of one tensor: {as_lists(single)} "
            f"with one tensor, {checks.describe(outcome['value']) if split is None else as_lists(split)} with the list. Pass the state on as it is."
        )
