"""Child-side probes for 06_char_rnn: run the student's units and hand back what they made.

Nothing here builds, trains, samples or scores a character model the way the graded
units do. The tests of `train_tbptt`, `sample` and `perplexity` hand the student's unit
a model the kit builds in the reference child (rnnkit_grader.reference.charlm
`kit_spec`); it arrives here as data, a Keras config from model.to_json() and weights,
rebuilt with keras.models.model_from_json (Keras's code, not the kit's). What goes back
is raw: the clipped gradients and norm, the built model as a config and weights, the
losses as returned and the trained weights, the drawn text, the perplexity as returned.
The reference child runs the student's built models and computes validation logits
(whose windows never come here); the suite computes every figure.
"""

import numpy as np

from rnnkit_child.probes._common import _export, _keras, _model


def to_numpy(value, what):
    """A tensor, variable or array as a NumPy array; TypeError naming `what` otherwise."""
    try:
        return np.asarray(_keras().ops.convert_to_numpy(value))
    except Exception:
        raise TypeError(f"{what} should be a tensor or an array, got {type(value).__name__}") from None


def _losses(value):
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"train_tbptt should return a list of per-batch losses, got {type(value).__name__}")
    out = []
    for item in value:
        try:
            out.append(float(np.asarray(_keras().ops.convert_to_numpy(item))))
        except Exception:
            raise TypeError(f"train_tbptt's losses should be numbers, got {type(item).__name__}") from None
    return out


# ---- clip_by_global_norm ----------------------------------------------------------


def clip(namespace, grads, max_norm, graph=False):
    """The student's clip_by_global_norm on float32 tensors (graph=True: inside tf.function, as a
    compiled training step calls it): {"clipped", "norm"} as it returned them."""
    import tensorflow as tf

    func = namespace["clip_by_global_norm"]
    tensors = [tf.constant(np.asarray(g, dtype=np.float32)) for g in grads]
    run = (lambda ts: func(list(ts), max_norm))
    if graph:
        run = tf.function(run)
    result = run(tensors)
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise TypeError(f"clip_by_global_norm should return a pair (clipped, global_norm), got {type(result).__name__}")
    clipped, norm = result
    if not isinstance(clipped, (list, tuple)):
        raise TypeError(f"clip_by_global_norm's first result should be a list of tensors, got {type(clipped).__name__}")
    return {
        "clipped": [to_numpy(c, "each clipped gradient").astype(np.float64) for c in clipped],
        "norm": float(to_numpy(norm, "global_norm")),
    }


# ---- build_char_model -------------------------------------------------------------


def built_model(namespace, vocab_size, embed_dim, units, batch_size=None, stateful=False, defaults=False):
    """What build_char_model(...) returned, as data (the reference child runs it); with `defaults`,
    of build_char_model(vocab_size), every other argument left at the unit's own default."""
    if defaults:
        model = namespace["build_char_model"](vocab_size)
        return _export(model)
    model = namespace["build_char_model"](vocab_size, embed_dim=embed_dim, units=units, batch_size=batch_size, stateful=stateful)
    return _export(model)


# ---- train_tbptt ------------------------------------------------------------------


def train(namespace, model, batches, epochs, learning_rate, clip_norm, warm=None):
    """train_tbptt on the given (stateful) model: the losses it returned and the final weights.

    `warm`, when given, is run through the model first so its state is not zero when
    train_tbptt starts (a correct train_tbptt resets it).
    """
    built = _model(model)
    if warm is not None:
        built(np.asarray(warm, dtype=np.int32))
    batches = [(np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.int32)) for x, y in batches]
    losses = namespace["train_tbptt"](built, batches, epochs=epochs, learning_rate=learning_rate, clip_norm=clip_norm)
    return {"losses": _losses(losses), "weights": [np.asarray(w) for w in built.get_weights()]}


def budget_run(namespace, vocab_size, embed_dim, units, batches, learning_rate, clip_norm, seed=0):
    """The whole pipeline on a fixed budget: the student's model, trained by the student's train_tbptt.

    Returns the per-batch losses and the trained model as data ("model"); the reference
    child computes its validation logits and the suite the perplexity.
    """
    keras = _keras()
    keras.utils.set_random_seed(seed)
    batch_size = len(batches[0][0])
    model = namespace["build_char_model"](vocab_size, embed_dim=embed_dim, units=units, batch_size=batch_size, stateful=True)
    batches = [(np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.int32)) for x, y in batches]
    losses = _losses(namespace["train_tbptt"](model, batches, epochs=1, learning_rate=learning_rate, clip_norm=clip_norm))
    return {"losses": losses, "model": _export(model)}


# ---- sample -----------------------------------------------------------------------


def corpus_chars(namespace):
    """The vocabulary of the notebook's TEXT (asked of the reference child)."""
    chars, _ = namespace["build_vocab"](namespace["TEXT"])
    return list(chars)


def sample_texts(namespace, model, prefix, length, temperature, seeds):
    """The student's sample on the given (stateless) model, once per seed."""
    built = _model(model)
    return [namespace["sample"](built, prefix, length, temperature=temperature, seed=int(s)) for s in seeds]


# ---- perplexity -------------------------------------------------------------------


def student_perplexity(namespace, model, ids, seq_len):
    """The student's perplexity of the given (stateless) model on ids."""
    value = namespace["perplexity"](_model(model), np.asarray(ids, dtype=np.int32), seq_len=seq_len)
    return float(to_numpy(value, "perplexity's result"))
