"""`rnnkit demo` picks a quick, representative set of examples by default and all of them with --all."""

from rnnkit_grader import assignments, cli


def test_default_demo_grades_each_assignment_once_right_and_once_wrong():
    expected = cli.load_expected()
    chosen = cli.demo_selection(expected)
    for assignment in assignments.available():
        names = [rel.split("/")[1] for rel in chosen if rel.startswith(assignment.id + "/")]
        assert "correct.ipynb" in names, assignment.id
        assert len(names) == 2 and "blank.ipynb" not in names, f"{assignment.id}: {names}"
        mistake = next(n for n in names if n != "correct.ipynb")
        assert expected[f"{assignment.id}/{mistake}"] < 100, "the demo's mistake should lose points"


def test_demo_all_and_one_assignment():
    expected = cli.load_expected()
    available = {a.id for a in assignments.available()}
    assert set(cli.demo_selection(expected, everything=True)) == {r for r in expected if r.split("/")[0] in available}
    only = cli.demo_selection(expected, ids=["01_rnn_numpy"], everything=True)
    assert only and all(r.startswith("01_rnn_numpy/") for r in only)
