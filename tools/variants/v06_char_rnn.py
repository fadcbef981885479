"""Example submissions for 06_char_rnn: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (the grader
must accept it in full): a Sequential model, index arithmetic for the batches, raw
TensorFlow for the clipping, a Keras loss object, eager re-reading in `sample` and
a per-window loop in `perplexity`. Every other variant replaces some units of
`correct` with a realistic mistake. Used by tools/make_examples.py.
"""

VARIANTS = {
    "correct": {
        "build_vocab": '''
def build_vocab(text):
    chars = sorted({*text})
    return chars, dict(zip(chars, range(len(chars))))
''',
        "make_tbptt_batches": '''
def make_tbptt_batches(ids, batch_size, seq_len):
    ids = np.asarray(ids)
    stream_len = (len(ids) - 1) // batch_size
    starts = np.arange(batch_size) * stream_len               # where each stream begins
    batches = []
    for k in range(stream_len // seq_len):
        positions = starts[:, None] + k * seq_len + np.arange(seq_len)[None, :]
        batches.append((ids[positions].astype(np.int32), ids[positions + 1].astype(np.int32)))
    return batches
''',
        "clip_by_global_norm": '''
def clip_by_global_norm(grads, max_norm):
    dense = [None if g is None else tf.convert_to_tensor(g) for g in grads]
    global_norm = tf.sqrt(tf.add_n([tf.reduce_sum(g * g) for g in dense if g is not None]))
    factor = tf.minimum(1.0, max_norm / global_norm)
    return [None if g is None else g * tf.cast(factor, g.dtype) for g in dense], global_norm
''',
        "build_char_model": '''
def build_char_model(vocab_size, embed_dim=32, units=128, batch_size=None, stateful=False):
    return keras.Sequential([
        keras.Input(batch_shape=(batch_size, None), dtype="int32"),
        keras.layers.Embedding(vocab_size, embed_dim),
        keras.layers.LSTM(units, return_sequences=True, stateful=stateful),
        keras.layers.Dense(vocab_size),
    ])
''',
        "train_tbptt": '''
def train_tbptt(model, batches, epochs=1, learning_rate=0.005, clip_norm=5.0):
    adam = keras.optimizers.Adam(learning_rate)
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def one_step(x, y):
        with tf.GradientTape() as tape:
            loss = cross_entropy(y, model(x, training=True))
        grads, _ = clip_by_global_norm(tape.gradient(loss, model.trainable_variables), clip_norm)
        adam.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    one_step = tf.function(one_step)
    history = []
    for epoch in range(epochs):
        for layer in model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()
        for x, y in batches:
            history.append(float(one_step(tf.constant(x), tf.constant(y)).numpy()))
    return history
''',
        "perplexity": '''
def perplexity(model, ids, seq_len=100):
    ids = np.asarray(ids)
    total_nll, count = 0.0, 0
    for start in range(0, len(ids) - 1, seq_len):
        x = ids[start:start + seq_len]
        y = ids[start + 1:start + seq_len + 1]
        x = x[:len(y)]
        logits = np.asarray(model(x[None].astype(np.int32)), dtype=np.float64)[0]
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        total_nll -= log_probs[np.arange(len(y)), y].sum()
        count += len(y)
    return float(np.exp(total_nll / count))
''',
        "sample": '''
def sample(model, prefix, length, temperature=1.0, seed=0):
    chars, char_to_id = build_vocab(TEXT)
    rng = np.random.default_rng(seed)
    context = [char_to_id[c] for c in prefix]
    drawn = ""
    while len(drawn) < length:
        logits = model(np.array([context], dtype=np.int32), training=False)[0, -1]
        probs = np.asarray(ops.softmax(logits / temperature), dtype=np.float64)
        next_id = rng.choice(len(chars), p=probs / probs.sum())
        context.append(int(next_id))
        drawn += chars[next_id]
    return drawn
''',
    },
    # The usual shortcut: consecutive chunks of seq_len stacked as the rows of a batch,
    # so row b of the next batch does not continue row b.
    "streams_not_contiguous": {
        "make_tbptt_batches": '''
def make_tbptt_batches(ids, batch_size, seq_len):
    ids = np.asarray(ids, dtype=np.int32)
    n_chunks = (len(ids) - 1) // seq_len
    x = ids[: n_chunks * seq_len].reshape(n_chunks, seq_len)
    y = ids[1: n_chunks * seq_len + 1].reshape(n_chunks, seq_len)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n_chunks - batch_size + 1, batch_size)]
''',
    },
    # Resets the state before every batch: truncated BPTT without the carrying.
    "state_never_carried": {
        "train_tbptt": '''
def train_tbptt(model, batches, epochs=1, learning_rate=0.005, clip_norm=5.0):
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True))
        grads, _ = clip_by_global_norm(tape.gradient(loss, model.trainable_variables), clip_norm)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = []
    for _ in range(epochs):
        for x, y in batches:
            for layer in model.layers:
                if getattr(layer, "stateful", False):
                    layer.reset_state()
            losses.append(float(step(x, y)))
    return losses
''',
    },
    # Never resets: each epoch starts from the state the previous one ended in.
    "state_never_reset": {
        "train_tbptt": '''
def train_tbptt(model, batches, epochs=1, learning_rate=0.005, clip_norm=5.0):
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True))
        grads, _ = clip_by_global_norm(tape.gradient(loss, model.trainable_variables), clip_norm)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return [float(step(x, y)) for _ in range(epochs) for x, y in batches]
''',
    },
    # Clips every tensor to max_norm on its own, which changes the update's direction.
    "clip_per_tensor": {
        "clip_by_global_norm": '''
def clip_by_global_norm(grads, max_norm):
    norms = [ops.sqrt(ops.sum(ops.square(g))) for g in grads]
    clipped = [g * (max_norm / ops.maximum(n, max_norm)) for g, n in zip(grads, norms)]
    global_norm = ops.sqrt(ops.sum(ops.stack([n ** 2 for n in norms])))
    return clipped, global_norm
''',
    },
    # Divides the probabilities by the temperature, which the normalisation undoes.
    "temperature_on_probabilities": {
        "sample": '''
def sample(model, prefix, length, temperature=1.0, seed=0):
    chars, char_to_id = build_vocab(TEXT)
    rng = np.random.default_rng(seed)
    ids = [char_to_id[c] for c in prefix]
    for _ in range(length):
        logits = model.predict_on_batch(np.array([ids], dtype=np.int32))[0, -1].astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs = probs / probs.sum() / temperature
        ids.append(int(rng.choice(len(chars), p=probs / probs.sum())))
    return "".join(chars[i] for i in ids[len(prefix):])
''',
    },
    # Forgets the exp: returns the mean cross-entropy.
    "perplexity_without_exp": {
        "perplexity": '''
def perplexity(model, ids, seq_len=100):
    ids = np.asarray(ids, dtype=np.int32)
    losses = []
    for start in range(0, len(ids) - 1, seq_len):
        x = ids[start:min(start + seq_len, len(ids) - 1)]
        y = ids[start + 1:start + 1 + len(x)]
        losses.append(ops.convert_to_numpy(ops.sparse_categorical_crossentropy(y[None], model(x[None]), from_logits=True))[0])
    return float(np.concatenate(losses).mean())
''',
    },
    # A softmax on the Dense layer, then a loss that expects logits.
    "softmax_in_model": {
        "build_char_model": '''
def build_char_model(vocab_size, embed_dim=32, units=128, batch_size=None, stateful=False):
    return keras.Sequential([
        keras.Input(batch_shape=(batch_size, None), dtype="int32"),
        keras.layers.Embedding(vocab_size, embed_dim),
        keras.layers.LSTM(units, return_sequences=True, stateful=stateful),
        keras.layers.Dense(vocab_size, activation="softmax"),
    ])
''',
    },
}
