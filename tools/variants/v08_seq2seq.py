"""Example submissions for 08_seq2seq: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (np.roll for the
shift, LSTMs with one Embedding shared by source and target, the LSTM's state as a list
[h, c], keras.Model.predict in a decoding loop that cuts the rows afterwards); every
other variant replaces one unit of `correct` with a realistic mistake. Used by
tools/make_examples.py.
"""

_SHIFT = '''
def shift_right(targets, start_id):
    targets = np.asarray(targets)
    shifted = np.roll(targets, 1, axis=1)   # a new array: the last column wraps to the front
    shifted[:, 0] = start_id
    return shifted
'''

_BUILD = '''
def build_seq2seq(vocab_size, units=128):
    embedding = keras.layers.Embedding(vocab_size, 48, mask_zero=True)
    encoder_lstm = keras.layers.LSTM(units, return_state=True)
    decoder_lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    project = keras.layers.Dense(vocab_size)

    source = keras.Input(shape=(None,), dtype="int32")
    _, h, c = encoder_lstm(embedding(source))
    encoder = keras.Model(source, [h, c])

    decoder_input = keras.Input(shape=(None,), dtype="int32")
    sequence, _, _ = decoder_lstm(embedding(decoder_input), INITIAL)
    train_model = keras.Model([source, decoder_input], project(sequence))

    token = keras.Input(shape=(1,), dtype="int32")
    h_in, c_in = keras.Input(shape=(units,)), keras.Input(shape=(units,))
    out, h_out, c_out = STEP_LSTM(embedding(token), initial_state=[h_in, c_in])
    logits = STEP_DENSE(keras.ops.squeeze(out, axis=1))
    decoder = keras.Model([token, [h_in, c_in]], [logits, [h_out, c_out]])
    return train_model, encoder, decoder
'''

_CORRECT_BUILD = (
    _BUILD.replace("INITIAL", "initial_state=[h, c]").replace("STEP_LSTM", "decoder_lstm").replace("STEP_DENSE", "project")
)

_GREEDY = '''
def greedy_decode(encoder, decoder, source_ids, max_len):
    sources = np.asarray(source_ids, dtype=np.int32)
    state = encoder.predict(sources, verbose=0)
    token = np.full((len(sources), 1), START, dtype=np.int32)
    columns = []
    for _ in range(max_len):
        logits, state = decoder.predict([token, state], verbose=0)
        choice = np.argmax(logits, axis=-1).astype(np.int32)
        columns.append(choice)
        NEXT_TOKEN
        if np.all(np.any(np.stack(columns, axis=1) == END, axis=1)):
            break
    answers = []
    for row in np.stack(columns, axis=1):
        CUT
    return answers
'''

_CUT_AT_END = '''answer = []
        for i in row:
            if i == END:
                break
            answer.append(int(i))
        answers.append(np.array(answer, dtype=np.int64))'''

VARIANTS = {
    "correct": {
        "shift_right": _SHIFT,
        "build_seq2seq": _CORRECT_BUILD,
        "greedy_decode": _GREEDY.replace("NEXT_TOKEN", "token = choice[:, None]").replace("CUT", _CUT_AT_END),
    },
    # np.roll alone: the last target wraps round to the front instead of START.
    "shift_forgets_start": {
        "shift_right": '''
def shift_right(targets, start_id):
    return np.roll(np.asarray(targets), 1, axis=1)
''',
    },
    # The training decoder LSTM gets no initial_state: it starts from zeros and never sees the source.
    "decoder_ignores_encoder_state": {"build_seq2seq": _BUILD.replace("INITIAL", "").replace(", )", ")").replace("STEP_LSTM", "decoder_lstm").replace("STEP_DENSE", "project")},
    # The inference decoder gets a new LSTM and a new Dense: none of the trained weights reach it.
    "inference_decoder_new_layers": {
        "build_seq2seq": _BUILD.replace("INITIAL", "initial_state=[h, c]")
        .replace("STEP_LSTM", "keras.layers.LSTM(units, return_sequences=True, return_state=True)")
        .replace("STEP_DENSE", "keras.layers.Dense(vocab_size)"),
    },
    # START goes in at every step: the decoder never reads its own predictions.
    "greedy_feeds_start": {"greedy_decode": _GREEDY.replace("        NEXT_TOKEN\n", "").replace("CUT", _CUT_AT_END)},
    # Every row keeps all max_len ids, END and whatever follows it included.
    "greedy_never_stops": {
        "greedy_decode": _GREEDY.replace("NEXT_TOKEN", "token = choice[:, None]")
        .replace("        if np.all(np.any(np.stack(columns, axis=1) == END, axis=1)):\n            break\n", "")
        .replace("CUT", "answers.append(row.astype(np.int64))"),
    },
    # Each row keeps the END it stopped at (the docstring says END not included): only the stop test.
    "greedy_keeps_end": {
        "greedy_decode": _GREEDY.replace("NEXT_TOKEN", "token = choice[:, None]").replace(
            "CUT", _CUT_AT_END.replace(
                "            if i == END:\n                break\n            answer.append(int(i))",
                "            answer.append(int(i))\n            if i == END:\n                break",
            )
        ),
    },
    # The training decoder reads a window of three decoder inputs (a 'same' convolution): step t sees
    # input t + 1, the target of step t, so teacher-forced figures look perfect; greedy decoding has no
    # future ids. Caught by the causality test and by judging the trained model on greedy decoding.
    "decoder_sees_next_input": {
        "build_seq2seq": _CORRECT_BUILD.replace(
            "    project = keras.layers.Dense(vocab_size)\n",
            "    project = keras.layers.Dense(vocab_size)\n    window = keras.layers.Conv1D(48, 3, padding=\"same\")\n",
        )
        .replace("decoder_lstm(embedding(decoder_input)", "decoder_lstm(window(embedding(decoder_input))")
        .replace("decoder_lstm(embedding(token)", "decoder_lstm(window(embedding(token))"),
    },
    # Correct, written differently again: GRU cells in keras.layers.RNN, a separate Embedding for the
    # source and for the decoder, the state as one tensor, the step decoder built on the same layers
    # (the causality check and greedy-decoding judgement must accept it).
    "correct_rnn_of_gru_cells": {
        "build_seq2seq": '''
def build_seq2seq(vocab_size, units=128):
    source_embedding = keras.layers.Embedding(vocab_size, 32, mask_zero=True)
    target_embedding = keras.layers.Embedding(vocab_size, 32)
    encoder_rnn = keras.layers.RNN(keras.layers.GRUCell(units), return_state=True)
    decoder_rnn = keras.layers.RNN(keras.layers.GRUCell(units), return_sequences=True, return_state=True)
    readout = keras.layers.Dense(vocab_size)

    source = keras.Input(shape=(None,), dtype="int32")
    _, source_state = encoder_rnn(source_embedding(source))
    encoder = keras.Model(source, source_state)

    decoder_ids = keras.Input(shape=(None,), dtype="int32")
    steps, _ = decoder_rnn(target_embedding(decoder_ids), initial_state=source_state)
    train_model = keras.Model([source, decoder_ids], readout(steps))

    one_id = keras.Input(shape=(1,), dtype="int32")
    state_in = keras.Input(shape=(units,))
    one_step, state_out = decoder_rnn(target_embedding(one_id), initial_state=state_in)
    decoder = keras.Model([one_id, state_in], [readout(keras.layers.Flatten()(one_step)), state_out])
    return train_model, encoder, decoder
''',
    },
}
