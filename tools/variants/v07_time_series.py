"""Example submissions for 07_time_series: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (a loop for the
windows, keras.Sequential, a hand-written tf.GradientTape training loop, a list for
the forecast window); every other variant replaces one unit of `correct` with a
realistic mistake. Used by tools/make_examples.py.
"""

_WINDOWS = '''
def make_windows(series, window):
    values = np.asarray(series, dtype=np.float32).ravel()
    inputs, targets = [], []
    for start in range(len(values) - window):
        inputs.append(values[start:start + window])
        targets.append(values[TARGET])
    x = np.array(inputs, dtype=np.float32).reshape(-1, window, 1)
    y = np.array(targets, dtype=np.float32).reshape(-1, 1)
    return x, y
'''

_BUILD = '''
def build_forecaster(units=10, num_layers=2, kind="rnn"):
    layer_types = dict(rnn=keras.layers.SimpleRNN, gru=keras.layers.GRU, lstm=keras.layers.LSTM)
    if kind not in layer_types:
        raise ValueError(f"unknown kind {kind!r}: use 'rnn', 'gru' or 'lstm'")
    model = keras.Sequential([keras.Input(shape=(None, 1))])
    for i in range(num_layers):
        model.add(layer_types[kind](units, return_sequences=SEQUENCES))
    model.add(keras.layers.Dense(1))
    return model
'''

_TRAIN = '''
def train_forecaster(model, x, y, epochs=20, learning_rate=0.01):
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    data = tf.data.Dataset.from_tensor_slices((np.asarray(x, np.float32), np.asarray(y, np.float32)))

    @tf.function
    def step(x_batch, y_batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x_batch, training=True) - y_batch))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    history = []
    for epoch in range(epochs):
        total, count = 0.0, 0
        for x_batch, y_batch in data.shuffle(len(x)).batch(32):
            total += float(step(x_batch, y_batch)) * len(x_batch)
            count += len(x_batch)
        history.append(total / count)
    return history
'''

_FORECAST = '''
def forecast(model, history, horizon):
    window = [float(v) for v in np.ravel(history)]
    future = []
    for _ in range(horizon):
        inputs = np.array(window, dtype=np.float32).reshape(1, -1, 1)
        value = float(np.ravel(model.predict(inputs, verbose=0))[0])
        future.append(value)
        UPDATE
    return np.array(future)
'''

VARIANTS = {
    "correct": {
        "make_windows": _WINDOWS.replace("TARGET", "start + window"),
        "build_forecaster": _BUILD.replace("SEQUENCES", "i < num_layers - 1"),
        "train_forecaster": _TRAIN,
        "forecast": _FORECAST.replace("UPDATE", "window = window[1:] + [value]"),
    },
    # Each step predicts from the observed history again: the forecast never sees its own predictions.
    "forecast_not_fed_back": {"forecast": _FORECAST.replace("        UPDATE\n", "")},
    # The target is the last value of the window instead of the value after it.
    "windows_target_off_by_one": {"make_windows": _WINDOWS.replace("TARGET", "start + window - 1")},
    # Every recurrent layer keeps return_sequences=True, the last one included: (batch, window, 1) out.
    "last_layer_returns_sequences": {"build_forecaster": _BUILD.replace("SEQUENCES", "True")},
    # A tanh on the output layer: forecasts squashed into (-1, 1). The noisy sine lies mostly inside that
    # range, so training still converges; only the outputs on the reference's weights show it.
    "output_tanh": {
        "build_forecaster": _BUILD.replace("SEQUENCES", "i < num_layers - 1")
        .replace("keras.layers.Dense(1)", 'keras.layers.Dense(1, activation="tanh")'),
    },
    # Correct, written differently again: the functional API, keras.layers.RNN over Keras's cells, the
    # last layer built apart from the loop (the same-function check must accept it).
    "correct_functional_cells": {
        "build_forecaster": '''
def build_forecaster(units=10, num_layers=2, kind="rnn"):
    cells = {"rnn": keras.layers.SimpleRNNCell, "gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}
    if kind not in cells:
        raise ValueError(f"kind must be 'rnn', 'gru' or 'lstm', not {kind!r}")
    window = keras.Input(shape=(None, 1))
    hidden = window
    for _ in range(num_layers - 1):
        hidden = keras.layers.RNN(cells[kind](units), return_sequences=True)(hidden)
    last_state = keras.layers.RNN(cells[kind](units))(hidden)
    return keras.Model(window, keras.layers.Dense(1, activation=None)(last_state))
''',
    },
    # compile("adam"): Keras's default learning rate 0.001 instead of the one asked for.
    "learning_rate_ignored": {
        "train_forecaster": '''
def train_forecaster(model, x, y, epochs=20, learning_rate=0.01):
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return history.history["loss"]
''',
    },
    # Correct, written differently again: the batches cut by hand from a NumPy permutation and
    # trained with train_on_batch (the update count in mini-batches of 32 must accept it).
    "correct_train_on_batch": {
        "train_forecaster": '''
def train_forecaster(model, x, y, epochs=20, learning_rate=0.01):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), 32):
            batch = order[start:start + 32]
            total += float(np.ravel(model.train_on_batch(x[batch], y[batch]))[0]) * len(batch)
        losses.append(total / len(x))
    return losses
''',
    },
    # mini-batches of 64 instead of the contract's 32: half the updates per epoch.
    "batches_of_64": {
        "train_forecaster": '''
def train_forecaster(model, x, y, epochs=20, learning_rate=0.01):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    history = model.fit(x, y, epochs=epochs, batch_size=64, shuffle=True, verbose=0)
    return history.history["loss"]
''',
    },
    # fit without epochs=: Keras trains a single epoch and returns one loss.
    "train_one_epoch": {
        "train_forecaster": '''
def train_forecaster(model, x, y, epochs=20, learning_rate=0.01):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    history = model.fit(x, y, batch_size=32, verbose=0)
    return history.history["loss"]
''',
    },
}
