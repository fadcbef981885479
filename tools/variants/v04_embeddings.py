"""Example submissions for 04_embeddings: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (the grader
must accept it in full); every other variant replaces some units of `correct` with a
realistic mistake. Used by tools/make_examples.py.
"""

_NEIGHBORS = '''
def nearest_neighbors(table, vocab, token, k):
    vocab = list(vocab)
    if token not in vocab:
        raise ValueError(f"unknown token {token!r}")
    if k < 1 or k > len(vocab) - 1:
        raise ValueError("k must be in 1..len(vocab)-1")
    t = np.asarray(table, dtype=float)
    me = vocab.index(token)
    SCORES
    ranked = sorted(CANDIDATES, key=lambda i: -scores[i])
    return [vocab[i] for i in ranked[:k]]
'''

_COSINE = "scores = (t @ t[me]) / (np.linalg.norm(t, axis=1) * np.linalg.norm(t[me]))"
_OTHERS = "(i for i in range(len(vocab)) if i != me)"

_TRAIN = '''
def train_embedding_lm(model, x_ids, y_ids, steps=200, learning_rate=0.1):
    opt = keras.optimizers.Adam(learning_rate)
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            per_position = keras.losses.sparse_categorical_crossentropy(y_ids, model(x_ids), from_logits=True)
            loss = REDUCE(per_position)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        losses.append(float(loss))
    return losses
'''

VARIANTS = {
    "correct": {
        "embedding_lookup": '''
def embedding_lookup(ids, table):
    ids = np.asarray(ids)
    flat = np.take(table, ids.reshape(-1), axis=0)
    return flat.reshape(ids.shape + (np.shape(table)[1],))
''',
        "input_param_counts": '''
def input_param_counts(vocab_size, embed_dim, hidden_size):
    onehot = vocab_size * hidden_size
    embedding = embed_dim * (vocab_size + hidden_size)
    return onehot, embedding
''',
        "build_embedding_lm": '''
def build_embedding_lm(vocab_size, embed_dim=4, hidden_size=8, cell="rnn"):
    kinds = dict(rnn=keras.layers.SimpleRNN, gru=keras.layers.GRU, lstm=keras.layers.LSTM)
    if cell not in kinds:
        raise ValueError("cell must be rnn, gru or lstm")
    return keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, embed_dim),
        kinds[cell](hidden_size, return_sequences=True),
        keras.layers.Dense(vocab_size),
    ])
''',
        "train_embedding_lm": _TRAIN.replace("REDUCE", "tf.reduce_mean"),
        "nearest_neighbors": _NEIGHBORS.replace("SCORES", _COSINE).replace("CANDIDATES", _OTHERS),
    },
    # Biases counted in with the input-side weights.
    "counts_include_biases": {
        "input_param_counts": '''
def input_param_counts(vocab_size, embed_dim, hidden_size):
    return vocab_size * hidden_size + hidden_size, vocab_size * embed_dim + embed_dim * hidden_size + hidden_size
''',
    },
    # Neighbours ranked by dot product instead of cosine similarity.
    "neighbors_by_dot_product": {
        "nearest_neighbors": _NEIGHBORS.replace("SCORES", "scores = t @ t[me]").replace("CANDIDATES", _OTHERS),
    },
    # The token counted as its own nearest neighbour.
    "neighbors_include_the_token": {
        "nearest_neighbors": _NEIGHBORS.replace("SCORES", _COSINE).replace("CANDIDATES", "range(len(vocab))"),
    },
    # One-hot vectors and a Dense layer instead of an Embedding layer.
    "one_hot_instead_of_embedding": {
        "build_embedding_lm": '''
def build_embedding_lm(vocab_size, embed_dim=4, hidden_size=8, cell="rnn"):
    kinds = dict(rnn=keras.layers.SimpleRNN, gru=keras.layers.GRU, lstm=keras.layers.LSTM)
    if cell not in kinds:
        raise ValueError("cell must be rnn, gru or lstm")
    ids = keras.Input(shape=(None,), dtype="int32")
    onehot = keras.layers.Lambda(lambda t: keras.ops.one_hot(t, vocab_size))(ids)
    vectors = keras.layers.Dense(embed_dim, use_bias=False)(onehot)
    states = kinds[cell](hidden_size, return_sequences=True)(vectors)
    return keras.Model(ids, keras.layers.Dense(vocab_size)(states))
''',
    },
    # The training loss summed over positions.
    "loss_summed": {"train_embedding_lm": _TRAIN.replace("REDUCE", "tf.reduce_sum")},
    # The rate written into the optimizer: the learning_rate argument is accepted and ignored.
    "train_ignores_learning_rate": {
        "train_embedding_lm": _TRAIN.replace("REDUCE", "tf.reduce_mean").replace("keras.optimizers.Adam(learning_rate)", "keras.optimizers.Adam(0.1)"),
    },
    # The sizes written in: embed_dim and hidden_size accepted and ignored (right at their defaults).
    "build_ignores_sizes": {
        "build_embedding_lm": '''
def build_embedding_lm(vocab_size, embed_dim=4, hidden_size=8, cell="rnn"):
    kinds = dict(rnn=keras.layers.SimpleRNN, gru=keras.layers.GRU, lstm=keras.layers.LSTM)
    if cell not in kinds:
        raise ValueError("cell must be rnn, gru or lstm")
    ids = keras.Input(shape=(None,), dtype="int32")
    states = kinds[cell](8, return_sequences=True)(keras.layers.Embedding(vocab_size, 4)(ids))
    return keras.Model(ids, keras.layers.Dense(vocab_size)(states))
''',
    },
    # The vocabulary read off the ids (ids.max() + 1) instead of the table: one_hot(ids) @ table
    # only works when the ids reach the table's last row.
    "lookup_vocab_from_ids": {
        "embedding_lookup": '''
def embedding_lookup(ids, table):
    ids = np.asarray(ids)
    return np.eye(int(ids.max()) + 1, dtype=table.dtype)[ids] @ table
''',
    },
}
