"""Example submissions for 05_mnist: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (Sequential model,
a NumPy-permutation generator for the data, tf.nn's cross-entropy, a tf.function built
per epoch, keras.ops in evaluate); the grader must accept it in full. Every other
variant replaces some units of `correct` with a realistic mistake. Used by
tools/make_examples.py.
"""

VARIANTS = {
    "correct": {
        "to_sequences": '''
def to_sequences(images):
    """Rows of each image as 28 steps of 28 features, in [0, 1]."""
    pixels = np.asarray(images, dtype=np.float32)
    return pixels.reshape(-1, 28, 28) * np.float32(1.0 / 255.0)
''',
        "build_mnist_rnn": '''
def build_mnist_rnn(kind="rnn", units=100, num_layers=1, activation="relu"):
    """Stacked recurrent layers read the rows; Dense(10) turns the last state into logits."""
    def recurrent(return_sequences):
        if kind == "rnn":
            return keras.layers.SimpleRNN(units, activation=activation, return_sequences=return_sequences)
        if kind == "gru":
            return keras.layers.GRU(units, return_sequences=return_sequences)
        if kind == "lstm":
            return keras.layers.LSTM(units, return_sequences=return_sequences)
        raise ValueError(f"unknown kind {kind!r}: choose 'rnn', 'gru' or 'lstm'")

    stack = [recurrent(return_sequences=i + 1 < num_layers) for i in range(num_layers)]
    return keras.Sequential([keras.Input((28, 28))] + stack + [keras.layers.Dense(10)])
''',
        "make_dataset": '''
def make_dataset(x, y, batch_size=128, shuffle=True, seed=0):
    """Batches from a generator that draws a fresh permutation every time it is iterated."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)

    def batches():
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        for start in range(0, len(x), batch_size):
            chosen = order[start:start + batch_size]
            yield x[chosen], y[chosen]

    signature = (tf.TensorSpec((None,) + x.shape[1:], tf.float32), tf.TensorSpec((None,), tf.as_dtype(y.dtype)))
    return tf.data.Dataset.from_generator(batches, output_signature=signature)
''',
        "train_epoch": '''
def train_epoch(model, optimizer, dataset):
    """One epoch; the step is compiled afresh for this model and optimizer."""
    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(y, tf.int32), logits=model(x, training=True))
            loss = tf.reduce_mean(per_example)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return tf.reduce_sum(per_example), tf.shape(per_example)[0]

    summed, seen = 0.0, 0
    for x, y in dataset:
        batch_sum, batch_size = step(x, y)
        summed += float(batch_sum)
        seen += int(batch_size)
    return summed / seen
''',
        "evaluate": '''
def evaluate(model, x, y, batch_size=512):
    """Fraction of examples whose largest logit is at the label."""
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    guesses = ops.convert_to_numpy(ops.argmax(logits, axis=-1))
    return float(np.mean(guesses == np.asarray(y)))
''',
    },
    # The pixels stay in 0..255.
    "pixels_not_scaled": {
        "to_sequences": '''
def to_sequences(images):
    return np.asarray(images).reshape(-1, 28, 28).astype(np.float32)
''',
    },
    # The gradients are computed and then dropped: the weights never change.
    "gradients_never_applied": {
        "train_epoch": '''
def train_epoch(model, optimizer, dataset):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    total, count = 0.0, 0
    for x, y in dataset:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        total += float(loss) * len(y)
        count += len(y)
    return total / count
''',
    },
    # A softmax on the model's logits, then a cross-entropy that expects logits. (With
    # Keras's own loss inside a tf.function, Keras spots the softmax and undoes it; tf.nn's
    # loss doesn't, so this student really trains on softmax(softmax(logits)).)
    "softmax_as_logits": {
        "train_epoch": '''
def train_epoch(model, optimizer, dataset):
    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            probs = tf.nn.softmax(model(x, training=True))
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=probs))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    total, count = 0.0, 0
    for x, y in dataset:
        total += float(step(x, y)) * len(y)
        count += len(y)
    return total / count
''',
    },
    # Images and labels are shuffled by two separate shuffles: pairs are broken.
    "labels_shuffled_apart": {
        "make_dataset": '''
def make_dataset(x, y, batch_size=128, shuffle=True, seed=0):
    images = tf.data.Dataset.from_tensor_slices(x)
    labels = tf.data.Dataset.from_tensor_slices(y)
    if shuffle:
        images = images.shuffle(len(x), seed=seed)
        labels = labels.shuffle(len(y), seed=seed + 1)
    return tf.data.Dataset.zip((images, labels)).batch(batch_size)
''',
    },
    # The epoch's loss is the plain average of the batch means.
    "loss_unweighted_batch_mean": {
        "train_epoch": '''
def train_epoch(model, optimizer, dataset):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return float(np.mean([float(step(x, y)) for x, y in dataset]))
''',
    },
    # The accuracy as a percentage.
    "evaluate_percentage": {
        "evaluate": '''
def evaluate(model, x, y, batch_size=512):
    predictions = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=1)
    return 100.0 * np.mean(predictions == y)
''',
    },
}
