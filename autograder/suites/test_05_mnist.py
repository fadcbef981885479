"""Hidden suite for 05_mnist: reading MNIST digits row by row.

100 points:

| unit | points | what |
|---|---|---|
| to_sequences | 12 | shape and dtype for (N, 28, 28) and (N, 784) uint8 input; pixels divided by 255, rows as steps |
| build_mnist_rnn | 20 | parameter counts for rnn/gru/lstm x 1/2 layers; logits of the last step with given weights; activation; ValueError |
| make_dataset | 16 | in order without shuffle (partial last batch kept); every example once per epoch; labels with their images; reshuffled each epoch; seeded |
| train_epoch | 22 | one epoch from given weights over an unshuffled pipeline: the same weights and the same mean loss as the reference |
| evaluate | 8 | accuracy against known predictions, with and without a partial last batch |
| make_dataset + train_epoch | 22 | a budgeted training run (mean of two seeds) reaches the reference's accuracy (the lowest of three seeds) minus 2 points (12) and a calibrated absolute floor (10) |

Models for the train_epoch, evaluate and training-run tests are built by the kit from
Keras's own layers with weights from fixed seeds, so each of those tests depends on
the unit it grades (the training run on make_dataset and train_epoch together). The
accuracy of the training run is computed here from the logits the probe returns, never
by the student's evaluate. When something is wrong, the suite replays known slips with
the kit's own code in the reference child and names the one that explains the result.
"""

import functools
import math
import os

import numpy as np
import pytest

from rnnkit.mnist import load_variant
from rnnkit_grader import checks
from rnnkit_grader.runner import GraderBug

# ---- the budgeted training run: budget, seeds and calibrated thresholds --------------------
#
# The kit model SimpleRNN(100, tanh) + Dense(10) starts from Keras's default initial weights
# drawn with keras.utils.set_random_seed(RUN["weight_seed"]) and trains for RUN["epochs"]
# epochs of the student's make_dataset(x, y, batch_size=128, shuffle=True, seed=s) with the
# student's train_epoch and Adam, learning rate 3e-3 decayed to 0 by a cosine over the 96
# updates; the grader measures the test accuracy from the logits the probe returns.
#
# The shuffling order alone moves the result of this budget by about 0.9 points (standard
# deviation over orders), and a correct solution shuffles in its own way. So the student's
# accuracy is the mean of two runs (STUDENT_SEEDS) and the reference's accuracy is the
# lowest of its three runs (REFERENCE_SEEDS): a correct submission then falls more than
# MARGIN below it with a probability of about 0.3% (normal approximation, 0.9-1.0 point
# spread), while a broken loss, update or pairing costs 8 points or more.
#
# Why tanh and not the source's ReLU: with ReLU the same budget spreads twice as much from
# one shuffling order to the next (1.9 points standard deviation over 8 orders: 75.1% to
# 80.8%, `tools/calibrate_mnist.py --activation relu`), and it also follows the
# floating-point order of operations (eager versus tf.function) more wildly.
#
# Offline sample (4,000 training / 1,000 test digits, one TensorFlow thread as in grading),
# CALIBRATED with `tools/calibrate_mnist.py --seeds 8` on the reference notebook:
#   accuracy over shuffle seeds 0-7: 81.3, 82.1, 82.3, 84.0, 83.7, 83.5, 82.5, 82.0%:
#   mean 82.7%, min 81.3%, max 84.0%, std 0.9 points. Floor 78%: 3.3 points under the
#   lowest of the eight, 4.7 under the mean.
# Full MNIST (the first 4,000 training digits, all 10,000 test digits, the same budget):
#   ESTIMATED, NOT calibrated: the kit was built where full MNIST could not be downloaded.
#   The floor is the sample's; once full MNIST is cached, run
#   `tools/calibrate_mnist.py --variant full` and write the figures here.
RUN = {"units": 100, "activation": "tanh", "epochs": 3, "batch_size": 128, "learning_rate": 3e-3, "weight_seed": 7}
STUDENT_SEEDS = (0, 1)  # the student's accuracy is the mean over these shuffle seeds
REFERENCE_SEEDS = (0, 1, 2)  # the reference's accuracy is the lowest over these
MARGIN = 0.02  # how far under the reference's accuracy the student's may be
FLOORS = {"sample": 0.78, "full": 0.78}  # absolute floors (tests/test_mnist_floor.py re-checks them)
CALIBRATED_MEAN = {"sample": 0.827}  # mean of the reference over seeds 0-7 (drift check in the kit's tests)
SIZES = {"sample": (4000, 1000), "full": (4000, 10000)}  # training images used, test images used
RUN_TIMEOUT = 240  # seconds for one student run (an eager train_epoch is about 15 times slower)

# The data the training run uses: the offline sample unless RNNKIT_GRADE_MNIST=full (which
# needs full MNIST in Keras's cache; grading never downloads).
VARIANT = os.environ.get("RNNKIT_GRADE_MNIST", "sample")

EXPECTED_PARAMS = {
    ("rnn", 1): 13_910, ("rnn", 2): 34_010,
    ("gru", 1): 40_010, ("gru", 2): 100_610,
    ("lstm", 1): 52_610, ("lstm", 2): 133_010,
}
FORMULAS = {
    "rnn": "D*u + u*u + u per layer (D = 28 for the first, u after)",
    "gru": "3*(D*u + u*u) + 6*u per layer (Keras's reset_after=True: two bias rows)",
    "lstm": "4*(D*u + u*u + u) per layer",
}
KERAS_NAMES = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


@functools.lru_cache(maxsize=2)
def mnist(variant="sample"):
    if variant not in SIZES:
        raise GraderBug(f"RNNKIT_GRADE_MNIST must be 'sample' or 'full', not {variant!r}")
    data, _ = load_variant(variant, download=False)
    return data


def scaled(images):
    return images.reshape(len(images), 28, 28).astype(np.float32) / np.float32(255.0)


def random_weights(reference, seed, scale=0.3, **model):
    """Random weights with the shapes of the kit model (rnn kind)."""
    info = reference.probe("mnist.model_info", kind="rnn", source="keras", **model)
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * scale).astype(np.float32) for shape in info["weight_shapes"]]


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ---- to_sequences (12 points) ------------------------------------------------------------

N_IMAGES = 6
LAYOUTS = ["(N, 28, 28)", "(N, 784)"]


def images_for(layout):
    images = np.random.default_rng(5).integers(0, 256, size=(N_IMAGES, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = 0, 255
    return images, (images if layout == LAYOUTS[0] else images.reshape(N_IMAGES, 784))


@pytest.mark.unit("to_sequences")
@pytest.mark.points(2)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_to_sequences_shape_and_dtype(student, layout):
    """returns float32 sequences of shape (N, 28, 28)"""
    _, given = images_for(layout)
    got = checks.array(student.call("to_sequences", given), "to_sequences", f"the result for uint8 input of shape {layout}")
    want = (N_IMAGES, 28, 28)
    if got.shape != want:
        hint = {
            (N_IMAGES, 784): " The rows are still flattened: reshape to (N, 28, 28) so that x[:, t] is row t.",
            (N_IMAGES, 28, 28, 1): " Drop the channel axis: the RNN reads (N, 28, 28), 28 steps of 28 features.",
            (N_IMAGES, 1, 28, 28): " Drop the channel axis: the RNN reads (N, 28, 28), 28 steps of 28 features.",
        }.get(tuple(got.shape), "")
        checks.fail(f"to_sequences: for input of shape {tuple(given.shape)} the result has shape {tuple(got.shape)}, expected {want}.{hint}")
    if got.dtype != np.float32:
        checks.fail(
            f"to_sequences: the result has dtype {got.dtype}; the contract says float32 "
            "(uint8 / 255 in NumPy gives float64: cast with .astype(np.float32))."
        )


@pytest.mark.unit("to_sequences")
@pytest.mark.points(4)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_to_sequences_scaled_rows(student, layout):
    """pixels divided by 255 (0 -> 0.0, 255 -> 1.0), x[:, t] is row t of each image"""
    images, given = images_for(layout)
    got = checks.array(student.call("to_sequences", given), "to_sequences", "the result")
    if got.size != images.size:
        checks.fail(f"to_sequences: the result holds {got.size} values for {images.size} pixels.")
    got = got.reshape(N_IMAGES, 28, 28).astype(np.float64)
    want = images.astype(np.float64) / 255.0
    if np.allclose(got, want, rtol=1e-6, atol=1e-7):
        return
    raw = images.astype(np.float64)
    slips = [
        (raw, "The pixels are not divided by 255: values run up to 255.0. Divide by 255 so they lie in [0, 1]."),
        (raw / 256.0, "The pixels are divided by 256: divide by 255 so that 255 becomes exactly 1.0."),
        (np.floor(raw / 255.0), "The division happened in integer arithmetic (every pixel became 0 or 1): convert to float32 before dividing by 255."),
        (want.transpose(0, 2, 1), "The images are transposed: x[:, t] must be row t (time runs down the image), so reshape without transposing."),
        (1.0 - want, "The pixels are inverted (1 - p / 255): keep 0 for background and 1.0 for ink."),
        (2.0 * want - 1.0, "The pixels are scaled to [-1, 1]; the contract says [0, 1]: just divide by 255."),
        ((raw - raw.mean()) / raw.std(), "The pixels are standardised (mean 0, standard deviation 1); the contract says divide by 255."),
    ]
    if layout == LAYOUTS[1]:
        fortran = images.reshape(N_IMAGES, 784).reshape(N_IMAGES, 28, 28, order="F").astype(np.float64) / 255.0
        slips.append((fortran, "The flat (N, 784) rows are reshaped in column-major (Fortran) order: use the default row-major reshape, (N, 28, 28)."))
    for alt, message in slips:
        if np.allclose(got, alt, rtol=1e-5, atol=1e-6):
            checks.fail(f"to_sequences: {message}")
    checks.fail(
        f"to_sequences: the values differ from pixel / 255 (largest difference {np.max(np.abs(got - want)):.3g}; "
        f"your range is {got.min():.3g} to {got.max():.3g}, expected 0.0 to 1.0)."
    )


# ---- build_mnist_rnn (20 points) ---------------------------------------------------------


def model_info(student, **kwargs):
    info = student.probe("mnist.model_info", "build_mnist_rnn", **kwargs)
    if not info.get("is_model"):
        checks.fail(f"build_mnist_rnn should return a keras.Model, but it returned a {info.get('type')}.")
    return info


@pytest.mark.unit("build_mnist_rnn")
@pytest.mark.points(2)
@pytest.mark.parametrize("kind,num_layers", list(EXPECTED_PARAMS), ids=[f"{k}-{n}layer" for k, n in EXPECTED_PARAMS])
def test_build_parameter_counts(student, kind, num_layers):
    """parameter count of num_layers recurrent layers of 100 units plus Dense(10)"""
    want = EXPECTED_PARAMS[(kind, num_layers)]  # Keras's own layers give these (tests/test_mnist_floor.py)
    got = model_info(student, kind=kind, units=100, num_layers=num_layers)
    if got["params"] == want:
        return
    where = f"build_mnist_rnn(kind={kind!r}, num_layers={num_layers}) has {got['params']:,} parameters; expected {want:,}"
    layers = got.get("recurrent", [])
    if len(layers) != num_layers:
        checks.fail(f"{where}. It holds {len(layers)} recurrent layer(s) {layers}; num_layers={num_layers} asks for {num_layers}, stacked.")
    if any(name != KERAS_NAMES[kind] for name in layers):
        checks.fail(f"{where}. Its recurrent layers are {layers}; kind={kind!r} means keras.layers.{KERAS_NAMES[kind]}.")
    if kind == "gru" and got["params"] == want - 300 * num_layers:
        checks.fail(f"{where}. The GRU has one bias row: keep Keras's default reset_after=True (two bias rows, 3*u more biases).")
    if got["params"] == want - 1010:
        checks.fail(f"{where}: the Dense(10) output layer is missing.")
    checks.fail(f"{where} ({FORMULAS[kind]}, plus 100*10 + 10 for Dense(10)). Check units=100 reaches every layer.")


def check_shapes(student, reference, kind, num_layers, units, activation=None):
    got = model_info(student, kind=kind, units=units, num_layers=num_layers, activation=activation)
    want = reference.probe("mnist.model_info", kind=kind, units=units, num_layers=num_layers, source="keras")
    if got["weight_shapes"] != want["weight_shapes"]:
        checks.fail(
            f"build_mnist_rnn(kind={kind!r}, units={units}, num_layers={num_layers}): the weights have shapes "
            f"{got['weight_shapes']}, expected {want['weight_shapes']} (recurrent layers, then Dense(10))."
        )
    return got


@pytest.mark.unit("build_mnist_rnn")
@pytest.mark.points(2)
@pytest.mark.parametrize("num_layers", [1, 2], ids=["1layer", "2layers"])
def test_build_returns_logits_of_the_last_step(student, reference, num_layers):
    """with the same weights, the same logits (batch, 10) as the contract's model"""
    units = 8
    info = check_shapes(student, reference, "rnn", num_layers, units)
    weights = random_weights(reference, 20 + num_layers, units=units, num_layers=num_layers)
    x = np.random.default_rng(3).random((4, 28, 28)).astype(np.float32)
    got = student.probe("mnist.model_outputs", "build_mnist_rnn", kind="rnn", units=units, num_layers=num_layers, weights=weights, x=x)
    want = reference.probe("mnist.model_outputs", kind="rnn", units=units, num_layers=num_layers, weights=weights, x=x, source="keras")
    got = checks.array(got, "build_mnist_rnn", "the model's output")
    if got.shape != want.shape:
        hint = " The last recurrent layer returns every step: only the last step feeds Dense(10) (return_sequences=False on the last layer)." if got.ndim == 3 else ""
        checks.fail(f"build_mnist_rnn: the model maps (4, 28, 28) to shape {got.shape}, expected {want.shape}.{hint}")
    if np.allclose(got, want, rtol=1e-4, atol=1e-5):
        return
    if np.allclose(got, softmax(want), rtol=1e-4, atol=1e-5):
        checks.fail("build_mnist_rnn: the model outputs softmax probabilities; it must return logits: Dense(10) with no activation (the loss applies the softmax).")
    tanh = reference.probe("mnist.model_outputs", kind="rnn", units=units, num_layers=num_layers, weights=weights, x=x, activation="tanh", source="keras")
    if np.allclose(got, tanh, rtol=1e-4, atol=1e-5):
        checks.fail("build_mnist_rnn: the SimpleRNN layers use tanh; the default activation is 'relu': pass activation to keras.layers.SimpleRNN.")
    detail = " Every layer but the last needs return_sequences=True, the last one False." if num_layers > 1 else ""
    checks.fail(f"build_mnist_rnn: with the same weights the logits differ from SimpleRNN -> Dense(10) (largest difference {np.max(np.abs(got - want)):.3g}).{detail}")


@pytest.mark.unit("build_mnist_rnn")
@pytest.mark.points(2)
def test_build_passes_activation(student, reference):
    """activation reaches the SimpleRNN layers"""
    units = 8
    check_shapes(student, reference, "rnn", 1, units, activation="tanh")
    weights = random_weights(reference, 31, units=units, num_layers=1)
    x = np.random.default_rng(4).random((4, 28, 28)).astype(np.float32)
    got = student.probe("mnist.model_outputs", "build_mnist_rnn", kind="rnn", units=units, num_layers=1, weights=weights, x=x, activation="tanh")
    want = reference.probe("mnist.model_outputs", kind="rnn", units=units, num_layers=1, weights=weights, x=x, activation="tanh", source="keras")
    got = checks.array(got, "build_mnist_rnn", "the model's output")
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        relu = reference.probe("mnist.model_outputs", kind="rnn", units=units, num_layers=1, weights=weights, x=x, activation="relu", source="keras")
        if got.shape == relu.shape and np.allclose(got, relu, rtol=1e-4, atol=1e-5):
            checks.fail("build_mnist_rnn(activation='tanh') still computes ReLU: pass the activation argument to keras.layers.SimpleRNN instead of a fixed 'relu'.")
        checks.fail("build_mnist_rnn(activation='tanh'): with the same weights the logits differ from SimpleRNN(activation='tanh') -> Dense(10).")


@pytest.mark.unit("build_mnist_rnn")
@pytest.mark.points(2)
def test_build_rejects_unknown_kind(student):
    """ValueError naming kind for a kind other than rnn, gru, lstm"""
    outcome = student.outcome("build_mnist_rnn", kind="transformer")
    if outcome.raised is None:
        checks.fail("build_mnist_rnn(kind='transformer') returned a model; it should raise a ValueError naming `kind`.")
    if outcome.raised != "ValueError":
        checks.fail(f"build_mnist_rnn(kind='transformer') raised {outcome.raised}; the contract says ValueError (naming `kind`).")
    if "kind" not in outcome.error.get("message", ""):
        checks.fail(f"build_mnist_rnn(kind='transformer') raised ValueError({outcome.error.get('message')!r}); the message should name the argument `kind`.")


# ---- make_dataset (16 points) ------------------------------------------------------------

N_DATA, BATCH = 50, 16
SIZES_50 = [16, 16, 16, 2]


def id_data():
    """x[i] is i in every pixel (so each yielded image tells its example), y[i] = (7 i + 3) mod 10."""
    ids = np.arange(N_DATA)
    x = np.broadcast_to(ids[:, None, None], (N_DATA, 28, 28)).astype(np.float32)
    return x, (7 * ids + 3) % 10


def label_of(ids):
    return (7 * np.asarray(ids) + 3) % 10


def epochs_of(student, shuffle, seed=0, epochs=1, calls=1):
    x, y = id_data()
    got = student.probe("mnist.dataset_epochs", "make_dataset", x=x, y=y, batch_size=BATCH, shuffle=shuffle, seed=seed, epochs=epochs, calls=calls)
    if not got.get("is_dataset"):
        checks.fail(f"make_dataset should return a tf.data.Dataset, but it returned a {got.get('type')}.")
    return got["calls"]


def check_epoch(epoch, what):
    """The common failures of one epoch: changed images, wrong batch sizes."""
    if not epoch["exact"]:
        checks.fail(f"make_dataset ({what}): the images come back changed; make_dataset batches x as given (no rescaling, casting or reshaping).")
    sizes = epoch["sizes"]
    if sizes != SIZES_50:
        if sizes == SIZES_50[:-1]:
            checks.fail(f"make_dataset ({what}): 50 examples in batches of 16 gave batches {sizes}: the last, partial batch of 2 is dropped (don't use drop_remainder=True).")
        if set(sizes) == {1}:
            checks.fail(f"make_dataset ({what}): the examples come one at a time: batch them with .batch(batch_size).")
        checks.fail(f"make_dataset ({what}): 50 examples in batches of 16 should come as batches {SIZES_50}, got {sizes}.")


@pytest.mark.unit("make_dataset")
@pytest.mark.points(4)
def test_make_dataset_in_order_without_shuffle(student):
    """shuffle=False: batches of batch_size in the original order, the last one partial"""
    for k, epoch in enumerate(epochs_of(student, shuffle=False, epochs=2)[0]):
        check_epoch(epoch, "shuffle=False")
        if epoch["ids"].tolist() != list(range(N_DATA)):
            checks.fail(f"make_dataset(shuffle=False): epoch {k + 1} yields the examples in the order {epoch['ids'][:12].tolist()}...; without shuffling the order must stay 0, 1, 2, ...")
        if not np.array_equal(epoch["labels"], label_of(epoch["ids"])):
            checks.fail("make_dataset(shuffle=False): the labels do not match their images.")


@pytest.mark.unit("make_dataset")
@pytest.mark.points(3)
def test_make_dataset_epoch_holds_every_example_once(student):
    """shuffle=True: every epoch holds each example exactly once, in batches of batch_size"""
    for k, epoch in enumerate(epochs_of(student, shuffle=True, epochs=3)[0]):
        check_epoch(epoch, "shuffle=True")
        ids = epoch["ids"]
        if sorted(ids.tolist()) != list(range(N_DATA)):
            missing = sorted(set(range(N_DATA)) - set(ids.tolist()))
            checks.fail(f"make_dataset(shuffle=True): epoch {k + 1} misses examples {missing[:8]} and repeats others: shuffle the whole data set (a buffer as large as the data), then batch.")


@pytest.mark.unit("make_dataset")
@pytest.mark.points(4)
def test_make_dataset_keeps_labels_with_images(student):
    """shuffle=True: each label stays with its own image"""
    for k, epoch in enumerate(epochs_of(student, shuffle=True, epochs=2)[0]):
        if len(epoch["labels"]) != len(epoch["ids"]):
            checks.fail(f"make_dataset: epoch {k + 1} yields {len(epoch['ids'])} images but {len(epoch['labels'])} labels.")
        wrong = int(np.sum(epoch["labels"] != label_of(epoch["ids"])))
        if wrong:
            checks.fail(
                f"make_dataset(shuffle=True): in epoch {k + 1}, {wrong} of {N_DATA} labels are not their image's label: "
                "the labels are shuffled separately from the images. Shuffle (x, y) pairs together, "
                "e.g. tf.data.Dataset.from_tensor_slices((x, y)).shuffle(...)."
            )


@pytest.mark.unit("make_dataset")
@pytest.mark.points(3)
def test_make_dataset_reshuffles_each_epoch(student):
    """shuffle=True: a new order every epoch"""
    orders = [e["ids"].tolist() for e in epochs_of(student, shuffle=True, epochs=3)[0]]
    if orders[0] == list(range(N_DATA)):
        checks.fail("make_dataset(shuffle=True): the first epoch is in the original order: shuffle=True should shuffle.")
    if orders[0] == orders[1] == orders[2]:
        checks.fail(
            "make_dataset(shuffle=True): every epoch uses the same order; iterate again and the order should change "
            "(tf.data's shuffle(..., reshuffle_each_iteration=True), or a new permutation per pass)."
        )


@pytest.mark.unit("make_dataset")
@pytest.mark.points(2)
def test_make_dataset_is_seeded(student):
    """the same seed gives the same order, another seed another order"""
    same = epochs_of(student, shuffle=True, seed=3, calls=2)
    if same[0][0]["ids"].tolist() != same[1][0]["ids"].tolist():
        checks.fail("make_dataset(shuffle=True, seed=3) called twice gives two different orders: pass seed to the shuffle so runs are reproducible.")
    other = epochs_of(student, shuffle=True, seed=4)
    if other[0][0]["ids"].tolist() == same[0][0]["ids"].tolist():
        checks.fail("make_dataset: seed=3 and seed=4 give the same order: the seed argument is not used.")


# ---- train_epoch (22 points) -------------------------------------------------------------

EPOCH_UNITS = 32
EPOCH_N, EPOCH_BATCH = 300, 128  # batches of 128, 128 and 44
EPOCH_OPTIMIZER = {"name": "sgd", "learning_rate": 0.1}
UPDATE_TOL = 1e-3  # relative error of the weight update
LOSS_TOL = 1e-4

SLIPS = {
    "never_applied": "The weights did not move: the gradients are computed but never applied. Call optimizer.apply_gradients(zip(grads, model.trainable_variables)) for every batch.",
    "softmax_as_logits": "Your updates match a loss on softmax outputs treated as logits (softmax applied, then from_logits=True): the model already returns logits, so pass them to the loss directly.",
    "logits_as_probabilities": "Your updates match a loss that treats the logits as probabilities (from_logits=False): the model returns logits, so use from_logits=True.",
    "summed": "Your updates match a loss summed over the batch instead of averaged: use the batch mean (Keras's losses average by default).",
    "ascent": "Your updates go uphill: the gradient is added to the weights. Hand the gradients to the optimizer as they are; it subtracts them.",
}


@pytest.fixture(scope="module")
def epoch_case(reference):
    (x, y), _ = mnist("sample")
    weights = reference.probe("mnist.initial_weights", kind="rnn", units=EPOCH_UNITS, activation="relu", seed=11)
    return {"weights": weights, "x": scaled(x[:EPOCH_N]), "y": y[:EPOCH_N].astype(np.int64),
            "batch_size": EPOCH_BATCH, "optimizer": EPOCH_OPTIMIZER, "units": EPOCH_UNITS}


def update_error(weights, start, want):
    """Relative error of the weight update (after - before), over all weights together."""
    got = np.concatenate([(np.asarray(w, np.float64) - s).ravel() for w, s in zip(weights, start)])
    ref = np.concatenate([(np.asarray(w, np.float64) - s).ravel() for w, s in zip(want, start)])
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-12))


@pytest.fixture(scope="module")
def student_epoch(student, epoch_case):
    """The student's train_epoch on the case (run once for both tests), or the failure message."""
    try:
        got = student.probe("mnist.train_epoch_run", "train_epoch", **epoch_case)
    except checks.GradingFailure as exc:
        return {"failure": str(exc)}
    weights = got.get("weights")
    if not isinstance(weights, list) or len(weights) != len(epoch_case["weights"]):
        return {"failure": "train_epoch: the model's weights could not be read back after the epoch."}
    return got


def epoch_result(student_epoch):
    if "failure" in student_epoch:
        checks.fail(student_epoch["failure"])
    for w in student_epoch["weights"]:
        checks.array(w, "train_epoch", "a weight after training")
    return student_epoch


@pytest.mark.unit("train_epoch")
@pytest.mark.points(12)
def test_train_epoch_updates_like_reference(reference, epoch_case, student_epoch):
    """one epoch over an unshuffled dataset from given weights gives the reference's weights"""
    got = epoch_result(student_epoch)
    want = reference.probe("mnist.train_epoch_run", **epoch_case)
    start = [np.asarray(w, np.float64) for w in epoch_case["weights"]]
    err = update_error(got["weights"], start, want["weights"])
    if err < UPDATE_TOL:
        return
    for slip, message in SLIPS.items():
        alt = reference.probe("mnist.train_epoch_run", implementation="kit", slip=slip, **epoch_case)
        if update_error(got["weights"], start, alt["weights"]) < UPDATE_TOL:
            checks.fail(f"train_epoch: after one epoch (SGD, learning rate 0.1, batches of 128, 128 and 44) the weights differ from the reference's. {message}")
    first_batch = reference.probe("mnist.train_epoch_run", implementation="kit", **dict(epoch_case, x=epoch_case["x"][:EPOCH_BATCH], y=epoch_case["y"][:EPOCH_BATCH]))
    if update_error(got["weights"], start, first_batch["weights"]) < UPDATE_TOL:
        checks.fail("train_epoch: only the first batch was trained on: loop over every batch of the dataset (check where the return statement is).")
    checks.fail(
        f"train_epoch: after one epoch (SGD, learning rate 0.1, batches of 128, 128 and 44) the weight update differs from the reference's "
        f"(relative error {err:.2e}, allowed {UPDATE_TOL:.0e}). Check the loss (sparse categorical cross-entropy from logits, "
        "averaged over the batch), that the forward pass is inside the GradientTape, and that every batch gets one optimizer step."
    )


@pytest.mark.unit("train_epoch")
@pytest.mark.points(10)
def test_train_epoch_returns_mean_loss(reference, epoch_case, student_epoch):
    """returns the mean loss over the epoch's examples (a partial last batch weighs by its size)"""
    got = epoch_result(student_epoch)
    value = checks.scalar(got["loss"], "train_epoch", "the returned mean loss")
    want = reference.probe("mnist.train_epoch_run", **epoch_case)
    expected = float(want["loss"])
    if abs(value - expected) <= LOSS_TOL * abs(expected):
        return
    kit = reference.probe("mnist.train_epoch_run", implementation="kit", **epoch_case)
    losses, sizes = np.array(kit["batch_losses"]), np.array(kit["batch_sizes"])
    start = [np.asarray(w, np.float64) for w in epoch_case["weights"]]
    weights_ok = update_error(got["weights"], start, want["weights"]) < UPDATE_TOL
    alternatives = [
        (losses.mean(), "it is the plain average of the batch means: weigh each batch's mean loss by its size (128, 128 and 44 here) and divide by the number of examples."),
        (losses[-1], "it is the last batch's loss: accumulate every batch's loss over the epoch."),
        (losses[0], "it is the first batch's loss: accumulate every batch's loss over the epoch."),
        (losses.sum(), "it is the sum of the batch means: divide by the number of examples, weighing each batch by its size."),
        (np.dot(losses, sizes), "it is the total over examples: divide by the number of examples."),
    ]
    for alt, why in alternatives:
        if abs(value - alt) <= LOSS_TOL * abs(alt):
            checks.fail(f"train_epoch returned {value:.6f}, expected the mean over examples {expected:.6f}: {why}")
    if not weights_ok:
        checks.fail(f"train_epoch returned the mean loss {value:.6f}, expected {expected:.6f}; the weight updates differ too (see the other train_epoch check): fix the training step first.")
    checks.fail(f"train_epoch returned {value:.6f}, expected the mean cross-entropy over the epoch's examples {expected:.6f} (each batch's loss taken before its update).")


# ---- evaluate (8 points) -----------------------------------------------------------------

EVAL_UNITS, EVAL_N, EVAL_WRONG = 16, 300, 90


@pytest.fixture(scope="module")
def eval_case(reference):
    (x, _), _ = mnist("sample")
    x = scaled(x[-EVAL_N:])
    weights = random_weights(reference, 41, scale=0.5, units=EVAL_UNITS, num_layers=1)
    predicted = np.argmax(reference.probe("mnist.kit_logits", weights=weights, x=x, units=EVAL_UNITS, activation="relu"), axis=1)
    y = predicted.copy()
    wrong = np.random.default_rng(42).choice(EVAL_N, EVAL_WRONG, replace=False)
    y[wrong] = (y[wrong] + 1 + np.random.default_rng(43).integers(0, 9, EVAL_WRONG)) % 10
    return {"weights": weights, "x": x, "y": y.astype(np.int64), "correct": predicted == y}


@pytest.mark.unit("evaluate")
@pytest.mark.points(4)
@pytest.mark.parametrize("batch_size", [128, None], ids=["batch_size=128", "default batch_size"])
def test_evaluate_against_known_predictions(student, eval_case, batch_size):
    """the fraction of examples whose argmax logit is the label"""
    correct = eval_case["correct"]
    expected = float(correct.mean())
    got = student.probe("mnist.evaluate_run", "evaluate", weights=eval_case["weights"], x=eval_case["x"], y=eval_case["y"],
                        batch_size=batch_size, units=EVAL_UNITS)
    value = checks.scalar(got, "evaluate", "the accuracy")
    if abs(value - expected) < 1e-6:
        return
    size = batch_size or 512
    chunks = [correct[i:i + size] for i in range(0, EVAL_N, size)]
    alternatives = [
        (100 * expected, "it is a percentage; return a fraction in [0, 1]."),
        (float(correct.sum()), "it is the number of correct predictions; divide by the number of examples."),
        (1 - expected, "it is the error rate; return the fraction predicted correctly."),
    ]
    if len(chunks) > 1:
        alternatives += [
            (float(np.mean([c.mean() for c in chunks])), "it averages the batches' accuracies, so the short last batch counts as much as a full one: count correct predictions over all examples."),
            (float(np.concatenate(chunks[:-1]).mean()), "the last, partial batch is left out: include every example."),
            (float(chunks[-1].mean()), "only the last batch is counted: accumulate over all batches."),
        ]
    for alt, why in alternatives:
        if abs(value - alt) < 1e-6:
            checks.fail(f"evaluate returned {value:.6g} for {EVAL_N} examples of which {int(correct.sum())} are predicted correctly (accuracy {expected:.4f}): {why}")
    checks.fail(
        f"evaluate returned {value:.6g}; {int(correct.sum())} of {EVAL_N} examples have their label as the argmax of the logits, "
        f"so the accuracy is {expected:.4f}. The prediction is the argmax over the last axis of the model's logits."
    )


# ---- the budgeted training run (22 points) -----------------------------------------------


def run_kwargs(variant, seed):
    (x_train, y_train), (x_test, _) = mnist(variant)
    n_train, n_test = SIZES[variant]
    return {
        "x_train": x_train[:n_train], "y_train": y_train[:n_train].astype(np.int64), "x_test": x_test[:n_test],
        "epochs": RUN["epochs"], "batch_size": RUN["batch_size"], "learning_rate": RUN["learning_rate"],
        "seed": seed, "units": RUN["units"], "activation": RUN["activation"],
    }


def accuracy(logits, variant):
    _, (_, y_test) = mnist(variant)
    y = y_test[:SIZES[variant][1]]
    logits = np.asarray(logits)
    if logits.shape != (len(y), 10):
        return None
    return float(np.mean(np.argmax(logits, axis=1) == y))


def run_weights(reference):
    return reference.probe("mnist.initial_weights", kind="rnn", units=RUN["units"], activation=RUN["activation"], seed=RUN["weight_seed"])


def reference_accuracies(reference, variant=VARIANT, seeds=REFERENCE_SEEDS):
    """The reference notebook's accuracy for each shuffle seed, measured here from its logits."""
    weights = run_weights(reference)
    return [accuracy(reference.probe("mnist.training_run", weights=weights, **run_kwargs(variant, s))["logits"], variant) for s in seeds]


@pytest.fixture(scope="module")
def training(student, reference):
    """The student's runs (once for both tests) and the reference's accuracies."""
    ref = reference_accuracies(reference)
    if any(a is None for a in ref):
        raise GraderBug("the reference's training run returned logits of the wrong shape")
    result = {"reference": ref, "runs": [], "accuracies": []}
    weights = run_weights(reference)
    for seed in STUDENT_SEEDS:
        try:
            for unit in ("make_dataset", "train_epoch"):
                student._require(unit)
            got = student.probe("mnist.training_run", "train_epoch", timeout=RUN_TIMEOUT, weights=weights, **run_kwargs(VARIANT, seed))
        except checks.GradingFailure as exc:
            return dict(result, failure=str(exc))
        if "unit_error" in got:
            error = got["unit_error"]
            return dict(result, failure=student.explain_error(error.get("unit", "train_epoch"), error))
        acc = accuracy(got.get("logits"), VARIANT)
        if acc is None:
            return dict(result, failure="the trained model's predictions came back with the wrong shape.")
        result["runs"].append(got)
        result["accuracies"].append(acc)
    return result


def explain_run(runs):
    """Likely reasons for a poor training run, from what the probe saw."""
    reasons = []
    run = runs[0]
    pairing = run.get("pairing") or {}
    n_train = SIZES[VARIANT][0]
    if pairing.get("total"):
        share = pairing["matched"] / pairing["total"]
        if share < 0.9:
            reasons.append(f"only {share:.0%} of the labels make_dataset yields belong to their image: the labels are shuffled separately from the images")
        if pairing["distinct"] < n_train:
            reasons.append(f"one epoch of make_dataset held {pairing['distinct']} of the {n_train} training images")
    losses = [l for l in run.get("losses", []) if isinstance(l, (int, float))]
    if losses and not all(math.isfinite(l) for l in losses):
        reasons.append("the training loss became NaN or infinite")
    elif len(losses) >= 2 and losses[-1] > 0.95 * losses[0] and not reasons:
        reasons.append(f"the loss hardly moved from epoch to epoch ({', '.join(f'{l:.3f}' for l in losses)}), as if the gradients were never applied to the weights")
    return reasons


def likely(reasons, otherwise):
    return ("Likely cause: " + "; ".join(reasons) + ".") if reasons else otherwise


def describe_run():
    n_train, n_test = SIZES[VARIANT]
    name = "the offline MNIST sample" if VARIANT == "sample" else "full MNIST"
    return (
        f"a SimpleRNN(100, tanh) + Dense(10) from fixed initial weights, trained {RUN['epochs']} epochs with your "
        f"make_dataset(x, y, batch_size={RUN['batch_size']}, shuffle=True, seed=s) and your train_epoch, Adam "
        f"(learning rate {RUN['learning_rate']:g}, cosine decay), on {n_train:,} training digits of {name}, tested on {n_test:,}"
    )


def percent(values):
    return ", ".join(f"{v:.1%}" for v in values)


def run_result(training):
    if "failure" in training:
        checks.fail(f"The training run ({describe_run()}) failed: {training['failure']}")
    return float(np.mean(training["accuracies"]))


ADVICE = "Check train_epoch (the loss from logits, one optimizer step per batch) and that make_dataset yields every example with its own label; the checks of those units above say more."


@pytest.mark.unit("make_dataset + train_epoch")
@pytest.mark.points(12)
def test_training_run_close_to_reference(training):
    """a budgeted training run reaches the reference's test accuracy minus 2 points"""
    acc = run_result(training)
    target = min(training["reference"]) - MARGIN
    if acc >= target:
        return
    checks.fail(
        f"The training run ({describe_run()}) reached {acc:.1%} test accuracy (mean of seeds "
        f"{', '.join(map(str, STUDENT_SEEDS))}: {percent(training['accuracies'])}); the reference's runs reach "
        f"{percent(training['reference'])} (seeds {', '.join(map(str, REFERENCE_SEEDS))}), so at least its lowest minus "
        f"{MARGIN * 100:.0f} points, {target:.1%}, is needed. " + likely(explain_run(training["runs"]), ADVICE)
    )


@pytest.mark.unit("make_dataset + train_epoch")
@pytest.mark.points(10)
def test_training_run_reaches_floor(training):
    """a budgeted training run clears the calibrated absolute accuracy floor"""
    floor = FLOORS[VARIANT]
    if min(training["reference"]) < floor:
        raise GraderBug(f"the reference reaches only {percent(training['reference'])}, under the floor {floor:.0%}: recalibrate")
    acc = run_result(training)
    if acc >= floor:
        return
    checks.fail(
        f"The training run ({describe_run()}) reached {acc:.1%} test accuracy (mean of seeds "
        f"{', '.join(map(str, STUDENT_SEEDS))}: {percent(training['accuracies'])}), under the floor of {floor:.0%} "
        f"(chance is 10%). " + likely(explain_run(training["runs"]), ADVICE)
    )
