"""The digit-reversal task of 08_seq2seq (rnnkit/seq2seq_data.py), and the hidden suite's
known-model expectations, re-checked on the reference notebook.

The reference's model makes the same trip as a student's: exported as data by the child
probe, rebuilt, trained and decoded by rnnkit_grader.reference.seq2seq. (The floor of the
budgeted run is re-checked with every other calibrated bound by tests/test_calibration.py.)
"""

import doctest

import numpy as np
import pytest

from conftest import load_suite, reference_child
from rnnkit import seq2seq_data
from rnnkit.seq2seq_data import END, FIRST_DIGIT, PAD, START, VOCAB_SIZE, exact_match, make_reversal_data, target_digits, to_text
from rnnkit_child.probes import seq2seq as probes



# ---- the data ----------------------------------------------------------------------------


def test_docstring_example_holds():
    assert doctest.testmod(seq2seq_data).failed == 0


def test_same_arguments_give_the_same_pairs():
    a = make_reversal_data(50, seed=3)
    b = make_reversal_data(50, seed=3)
    c = make_reversal_data(50, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_layout_digits_then_end_then_pad():
    sources, targets = make_reversal_data(400, min_len=2, max_len=6, seed=0)
    assert sources.shape == (400, 6) and targets.shape == (400, 7)
    assert sources.dtype == np.int32 and targets.dtype == np.int32
    lengths = (sources != PAD).sum(axis=1)
    assert set(lengths.tolist()) == {2, 3, 4, 5, 6}, "every length from min_len to max_len occurs"
    for source, target, length in zip(sources, targets, lengths):
        digits = source[:length]
        assert np.all((digits >= FIRST_DIGIT) & (digits < VOCAB_SIZE)), "sources hold digit ids, then PAD"
        assert np.all(source[length:] == PAD), "PAD only after the digits"
        assert np.array_equal(target[:length], digits[::-1]), "the target is the source reversed"
        assert target[length] == END, "END right after the reversed digits"
        assert np.all(target[length + 1:] == PAD), "PAD after END"
    assert not np.isin(sources, [START, END]).any() and not (targets == START).any()


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError, match="min_len"):
        make_reversal_data(5, min_len=0)
    with pytest.raises(ValueError, match="max_len"):
        make_reversal_data(5, min_len=4, max_len=3)


def test_to_text_reads_up_to_end():
    assert to_text([START, 3, 12, END, 5, 5]) == "^09"
    assert to_text([4, 5, PAD, PAD]) == "12"
    assert to_text([END, 4]) == ""


def test_target_digits_cut_at_end():
    answers = target_digits(np.array([[5, 4, END, PAD], [7, END, PAD, PAD]]))
    assert [a.tolist() for a in answers] == [[5, 4], [7]]


def test_exact_match_edge_cases():
    targets = np.array([[5, 4, END, PAD], [7, END, PAD, PAD], [3, 3, 3, END]])
    assert exact_match([[5, 4], [7], [3, 3, 3]], targets) == 1.0
    assert exact_match([[5, 4, END], [7, END], [3, 3, 3]], targets) == 1.0, "a single END at the end is ignored"
    assert exact_match([[5, 4, END, END], [7], [3, 3, 3]], targets) == pytest.approx(2 / 3), "ids after END make a row wrong"
    assert exact_match([[5, 4, 6], [7], [3, 3]], targets) == pytest.approx(1 / 3), "too long or too short is wrong"
    assert exact_match([[], [7], [3, 3, 3]], targets) == pytest.approx(2 / 3), "an empty answer is wrong"
    assert exact_match([[4, 5], [7], [3, 3, 3]], targets) == pytest.approx(2 / 3), "the order of the digits counts"
    assert isinstance(exact_match(np.array([[5, 4], [7, 7], [3, 3]]), targets), float)
    with pytest.raises(ValueError):
        exact_match([[5, 4]], targets)


# ---- the hidden suite against the reference ----------------------------------------------


@pytest.fixture(scope="module")
def suite():
    return load_suite("08_seq2seq")


@pytest.fixture(scope="module")
def reference():
    yield from reference_child("08_seq2seq")


def test_greedy_decoding_agrees_with_teacher_forcing_on_the_reference(suite, reference):
    """The suite scores a trained model by the kit's greedy decoding (free-running); for the
    reference it scores what the training model does under teacher forcing, so FLOOR and
    CALIBRATED_MEAN, measured either way, hold for both."""
    run = suite.reference_run(reference, suite.SEED)
    forced = suite.teacher_forced_exact_match(run["teacher_forced"], suite.EVAL_TARGETS)
    assert abs(exact_match(run["decoded"], suite.EVAL_TARGETS) - forced) <= 0.005


@pytest.mark.parametrize("split_state", [False, True])
@pytest.mark.parametrize("sources_name,max_len", [("FEED_SOURCES", 8), ("END_SOURCES", 9), ("LONG_SOURCES", 4)])
def test_suite_knows_what_greedy_decoding_returns(suite, reference, sources_name, max_len, split_state):
    """The suite's simulation of the known model is what the reference's greedy_decode writes."""
    sources = getattr(suite, sources_name)
    got = reference.probe(probes.greedy_known, rule=suite.KNOWN_RULE, sources=sources, max_len=max_len, split_state=split_state)
    want = suite.simulate(sources, max_len)
    assert [np.asarray(r).tolist() for r in got] == [w.tolist() for w in want]


def test_suite_slips_differ_from_the_right_answer(suite):
    """Each slip the suite names gives another output than greedy decoding on its test sources."""
    for sources, max_len in [(suite.FEED_SOURCES, 8), (suite.END_SOURCES, 9)]:
        right = suite.simulate(sources, max_len)
        for mode in suite.SLIPS:
            assert not suite.same(suite.normalized(suite.simulate(sources, max_len, mode)), right), mode


def test_the_kit_decoder_and_training_are_not_in_the_student_child():
    """The kit's greedy loop and training run live only on the reference side."""
    import rnnkit_child.probes.seq2seq as child

    for name in ("kit_greedy", "_kit_greedy", "training_run", "known_next", "consistency", "shapes", "weight_sharing"):
        assert not hasattr(child, name), name
