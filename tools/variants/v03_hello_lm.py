"""Example submissions for 03_hello_lm: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (the grader
must accept it in full); every other variant replaces some units of `correct` with a
realistic mistake. Used by tools/make_examples.py.
"""

_TRAIN_STEP = '''
def train_step(model, optimizer, x, y):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=REDUCTION)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    APPLY
    return float(loss.numpy())
'''

_APPLY = "optimizer.apply_gradients(zip(grads, model.trainable_weights))"

_SAMPLE = '''
def sample_text(model, start="h", length=5, temperature=1.0, seed=0):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    rng = np.random.default_rng(seed)
    ids = [VOCAB.index(c) for c in start]
    out = []
    for _ in range(length):
        x = keras.ops.one_hot(np.array([ids]), len(VOCAB))
        logits = np.asarray(model(x))[0, -1].astype("float64")
        DISTRIBUTION
        nxt = rng.choice(len(VOCAB), p=p)
        ids.append(int(nxt))
        out.append(VOCAB[nxt])
    return "".join(out)
'''

VARIANTS = {
    "correct": {
        "encode": '''
def encode(text):
    lookup = {c: i for i, c in enumerate(VOCAB)}
    unknown = [c for c in text if c not in lookup]
    if unknown:
        raise ValueError(f"character {unknown[0]!r} is not in the vocabulary")
    return np.array([lookup[c] for c in text], dtype="int32")
''',
        "decode": '''
def decode(ids):
    return "".join(map(VOCAB.__getitem__, np.ravel(ids).astype(int)))
''',
        "make_hello_data": '''
def make_hello_data():
    source, target = "hihell", "ihello"
    x = np.zeros((1, len(source), len(VOCAB)), dtype=np.float32)
    for t, ch in enumerate(source):
        x[0, t, VOCAB.index(ch)] = 1.0
    y = encode(target).reshape(1, -1).astype(np.int32)
    return x, y
''',
        "build_hello_model": '''
def build_hello_model(hidden_size=8, cell="rnn"):
    layer = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}.get(cell)
    if layer is None:
        raise ValueError(f"unknown cell {cell!r}")
    return keras.Sequential([
        keras.Input((None, len(VOCAB))),
        layer(hidden_size, return_sequences=True),
        keras.layers.Dense(len(VOCAB)),
    ])
''',
        "train_step": _TRAIN_STEP.replace("REDUCTION", '"sum_over_batch_size"').replace("APPLY", _APPLY),
        "train": '''
def train(model, x, y, steps=200, learning_rate=0.1):
    opt = keras.optimizers.Adam(learning_rate=learning_rate)
    history = []
    for step in range(steps):
        history.append(train_step(model, opt, x, y))
    return history
''',
        "predict_text": '''
def predict_text(model, x):
    best = np.argmax(np.asarray(model.predict(x, verbose=0)), axis=-1)
    words = ["".join(VOCAB[i] for i in row) for row in best]
    if len(words) == 1:
        return words[0]
    return words
''',
        "sample_text": _SAMPLE.replace("DISTRIBUTION", "z = logits / temperature\n        p = np.exp(z - z.max())\n        p = p / p.sum()"),
    },
    # Targets not shifted: y is "hihell" again.
    "targets_not_shifted": {
        "make_hello_data": '''
def make_hello_data():
    ids = encode("hihell")
    x = np.eye(len(VOCAB), dtype=np.float32)[ids][None]
    y = ids[None].astype(np.int32)
    return x, y
''',
    },
    # The loss summed over batch and time instead of averaged.
    "loss_summed": {"train_step": _TRAIN_STEP.replace("REDUCTION", '"sum"').replace("APPLY", _APPLY)},
    # Gradients computed but never applied.
    "update_never_applied": {"train_step": _TRAIN_STEP.replace("REDUCTION", '"sum_over_batch_size"').replace("APPLY", "pass")},
    # Temperature applied to the probabilities (then renormalised), which has no effect.
    "temperature_on_probabilities": {
        "sample_text": _SAMPLE.replace("DISTRIBUTION", "p = np.exp(logits - logits.max())\n        p = p / p.sum()\n        p = p / temperature\n        p = p / p.sum()"),
    },
    # A new Adam optimizer for every step, so its moment estimates never build up.
    "new_optimizer_each_step": {
        "train": '''
def train(model, x, y, steps=200, learning_rate=0.1):
    losses = []
    for _ in range(steps):
        losses.append(train_step(model, keras.optimizers.Adam(learning_rate), x, y))
    return losses
''',
    },
    # The rate written into the optimizer: the learning_rate argument is accepted and ignored.
    "train_ignores_learning_rate": {
        "train": '''
def train(model, x, y, steps=200, learning_rate=0.1):
    opt = keras.optimizers.Adam(0.1)
    return [train_step(model, opt, x, y) for _ in range(steps)]
''',
    },
}
