"""Child-side probes for 03_hello_lm and 04_embeddings: run the student's units on models.

The training and decoding units are tested on models the kit chooses: the reference
child builds them (rnnkit_grader.reference.hello) and they arrive here as data, a
Keras config from model.to_json() and weights, rebuilt with
keras.models.model_from_json (Keras's code, not the kit's). Nothing here builds,
trains, decodes or scores a model the way the graded units do: each probe calls the
student's unit and hands back what it returned (losses as returned, the weights it
trained, the text it decoded or sampled, the model it built with its outputs), and
the suite, in the grader, or the reference child turns that into verdicts.
"""

import numpy as np

from rnnkit_child.probes._common import _keras, _model, _type_name


def _raw(value):
    """A returned value as data: numbers and arrays as they are, anything else as its array if it has one."""
    if type(value) in (float, int) or isinstance(value, (np.generic, np.ndarray)):
        return value
    try:
        array = np.asarray(value)
    except Exception:
        return None
    return array if array.dtype.kind in "biuf" else None


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def train_step(namespace, model, x, y, learning_rate=0.1):
    """One call of the student's train_step on the given model with a new Adam: the loss as
    returned (and its type), and the weights after the call."""
    keras = _keras()
    built = _model(model)
    optimizer = keras.optimizers.Adam(learning_rate)
    loss = namespace["train_step"](built, optimizer, np.asarray(x), np.asarray(y))
    return {"loss": _raw(loss), "loss_type": _type_name(loss), "weights": _weights(built)}


def train(namespace, model, x, y, steps, learning_rate=None, unit_name="train"):
    """The unit `train` (or `train_embedding_lm`) on the given model: the losses it returned and the
    trained weights. learning_rate=None leaves the unit's own default."""
    built = _model(model)
    rate = {} if learning_rate is None else {"learning_rate": learning_rate}
    losses = namespace[unit_name](built, np.asarray(x), np.asarray(y), steps=steps, **rate)
    return {"losses": [_raw(v) for v in list(losses)], "weights": _weights(built)}


def predict_text(namespace, model, x):
    return namespace["predict_text"](_model(model), np.asarray(x, dtype=np.float32))


def sample_texts(namespace, model, start, length, temperature, seeds):
    built = _model(model)
    return [namespace["sample_text"](built, start=start, length=length, temperature=temperature, seed=int(s)) for s in seeds]


def sample_defaults(namespace, model):
    """sample_text(model) with every other argument left at the student's defaults, and then with
    the contract's defaults written out (start="h", length=5, temperature=1.0, seed=0)."""
    built = _model(model)
    return [namespace["sample_text"](built), namespace["sample_text"](built, start="h", length=5, temperature=1.0, seed=0)]


def sample_error(namespace, model, temperature):
    """The type of exception sample_text raises for this temperature ('' if none)."""
    built = _model(model)
    try:
        namespace["sample_text"](built, start="h", length=2, temperature=temperature, seed=0)
    except Exception as exc:  # the type is what the suite checks
        return type(exc).__name__
    return ""


def build(namespace, builder, args, x, weights=None, projection=None):
    """What builder(*args) builds: its layers' class names and its weights' shapes; then, with the
    given weights loaded (when their shapes are the model's), its outputs on x and, given a
    projection, the gradients of sum(outputs * projection) with respect to its trainable
    variables (dense), in the order of get_weights()."""
    model = namespace[builder](*args)
    x = np.asarray(x)
    out = model(x)
    shapes = [list(np.shape(w)) for w in model.get_weights()]
    if weights is not None and shapes == [list(np.shape(w)) for w in weights]:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        out = model(x)
    grads = None
    if projection is not None:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = model(x)
            total = tf.reduce_sum(tf.convert_to_tensor(out) * tf.constant(np.asarray(projection, dtype=np.float32)))
        grads = [None if g is None else np.asarray(tf.convert_to_tensor(g)) for g in tape.gradient(total, model.trainable_variables)]
    return {
        "layers": [type(layer).__name__ for layer in model.layers],
        "shapes": shapes,
        "outputs": np.asarray(out),
        "grads": grads,
    }
