"""The digit-reversal task of assignment 8 (sequence to sequence), fixed by the kit.

A source is a string of 1 to 8 digits, the target is the same digits in reverse
order followed by END. Every token is an integer id:

    id:     0      1        2      3   4   ...  12
    token:  <pad>  <start>  <end>  0   1   ...  9

Sources are right-padded with PAD to `max_len` columns, targets (reversed digits,
then END) to `max_len + 1`. `make_reversal_data` draws them from a seeded generator,
so the same arguments always give the same arrays, on every machine.

    >>> sources, targets = make_reversal_data(3, seed=0)
    >>> sources[0].tolist(), targets[0].tolist()
    ([5, 6, 3, 3, 3, 4, 11, 0], [11, 4, 3, 3, 3, 6, 5, 2, 0])
    >>> to_text(sources[0]), to_text(targets[0])
    ('2300018', '8100032')
"""

import numpy as np

PAD, START, END = 0, 1, 2
FIRST_DIGIT = 3  # the id of the digit 0; digit d has id FIRST_DIGIT + d
VOCAB_SIZE = 13
TOKENS = ["<pad>", "<start>", "<end>"] + [str(d) for d in range(10)]


def make_reversal_data(num_examples, min_len=1, max_len=8, seed=0):
    """Random digit strings and their reversals, as padded id arrays.

    Inputs:
    - num_examples: Number of pairs N
    - min_len, max_len: Each source has a length drawn uniformly from [min_len, max_len]
    - seed: Seed of the generator; the same arguments always give the same pairs

    Returns a tuple of:
    - sources: int32 array of shape (N, max_len): digit ids, then PAD
    - targets: int32 array of shape (N, max_len + 1): the digit ids reversed, END, then PAD
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=num_examples)
    digits = rng.integers(0, 10, size=(num_examples, max_len)) + FIRST_DIGIT
    sources = np.full((num_examples, max_len), PAD, dtype=np.int32)
    targets = np.full((num_examples, max_len + 1), PAD, dtype=np.int32)
    for row, length in enumerate(lengths):
        sources[row, :length] = digits[row, :length]
        targets[row, :length] = digits[row, :length][::-1]
        targets[row, length] = END
    return sources, targets


def to_text(ids):
    """A readable string for a 1-D sequence of ids: digits as themselves, '^' for START.

    Reading stops at the first END; PAD is skipped.
    """
    chars = []
    for i in np.asarray(ids).reshape(-1).tolist():
        if i == END:
            break
        if i == START:
            chars.append("^")
        elif i != PAD:
            chars.append(TOKENS[i] if 0 <= i < VOCAB_SIZE else "?")
    return "".join(chars)


def target_digits(targets):
    """The ids before END of each target row: a list of 1-D int arrays (the answers)."""
    answers = []
    for row in np.asarray(targets):
        stop = np.flatnonzero(row == END)
        answers.append(row[: stop[0] if stop.size else len(row)].astype(np.int64))
    return answers


def exact_match(predictions, targets):
    """Fraction of rows whose prediction equals the target's digits exactly.

    Inputs:
    - predictions: One 1-D sequence of ids per row (what greedy decoding returns); a
      single END at its end is ignored
    - targets: int array of shape (N, T), digits then END then PAD

    Returns:
    - accuracy: Python float in [0, 1]
    """
    answers = target_digits(targets)
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions for {len(answers)} targets")
    hits = []
    for prediction, answer in zip(predictions, answers):
        prediction = np.asarray(prediction).reshape(-1)
        if prediction.size and prediction[-1] == END:
            prediction = prediction[:-1]
        hits.append(np.array_equal(prediction, answer))
    return float(np.mean(hits)) if hits else 0.0
