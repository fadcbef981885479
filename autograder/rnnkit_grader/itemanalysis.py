"""Item analysis of an assignment's hidden tests over a class: which tests deserve a look.

For each test: its pass rate, a flag when nobody fails it or everybody does (it then
tells students apart in nothing), and its item-rest correlation: the Pearson
correlation between passing the test (1 or 0) and the rest of the score (the
submission's score without that test's points). A good test is passed more often by
strong submissions than by weak ones (a correlation well above 0); one below
LOW_CORRELATION does not separate them and is flagged, as is a negative one.

Only submissions that were graded count (a result whose grading did not finish, or a
notebook that could not be read, has no tests and says nothing about them).
"""

import dataclasses
import math

LOW_CORRELATION = 0.2  # the usual floor for an item-rest correlation in classical test theory
MIN_FOR_FLAGS = 5  # fewer submissions than this: figures only, no flags


@dataclasses.dataclass
class Item:
    name: str
    max_score: float
    graded: int  # submissions with this test
    passed: int
    correlation: float | None  # item-rest, None when passing or the rest does not vary
    flags: list

    @property
    def pass_rate(self):
        return self.passed / self.graded if self.graded else 0.0


def pearson(xs, ys):
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)


def analyse(runs):
    """Items of the tests in `runs` (results.json dicts), hardest first."""
    graded = [r for r in runs if r.get("tests") and not (r.get("extra_data") or {}).get("batch_error")]
    names = []
    for run in graded:
        for t in run["tests"]:
            if t["name"] not in names:
                names.append(t["name"])
    items = []
    for name in names:
        passed, rest, max_score = [], [], 0.0
        for run in graded:
            test = next((t for t in run["tests"] if t["name"] == name), None)
            if test is None:
                continue
            score = float(test.get("score", 0) or 0)
            max_score = max(max_score, float(test.get("max_score", 0) or 0))
            passed.append(1.0 if test.get("status") == "passed" else 0.0)
            rest.append(float(run.get("score", 0)) - score)
        correlation = pearson(passed, rest)
        flags = []
        if len(passed) >= MIN_FOR_FLAGS:
            if all(passed):
                flags.append("nobody fails it")
            elif not any(passed):
                flags.append("everybody fails it")
            elif correlation is not None and correlation < LOW_CORRELATION:
                flags.append("does not separate strong from weak submissions" if correlation >= 0 else "weak submissions pass it more often than strong ones")
        items.append(Item(name, max_score, len(passed), int(sum(passed)), correlation, flags))
    return sorted(items, key=lambda item: (item.pass_rate, item.name))
