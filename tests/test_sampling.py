"""The reference sampler: shuffle then draw in order, stratified draws, re-draws with one shot fewer."""

from __future__ import annotations

import random

from lm_eval_ja.sampling import ReferenceSampler


def test_sampler_matches_the_reference_algorithm():
    # Written out as the reference does it: shuffle the docs, then rnd.sample(train, k) per doc in order.
    rnd = random.Random(42)
    docs = list(range(50))
    rnd.shuffle(docs)
    expected = [rnd.sample(list(range(30)), 3) for _ in docs]
    sampler = ReferenceSampler(50, 30)
    assert sampler.order == docs
    # Asking out of order (e.g. another data-parallel rank) gives the same draws.
    assert sampler.shots(7, 3) == expected[7]
    assert [sampler.shots(i, 3) for i in range(50)] == expected


def test_stratified_sampler_proportions():
    targets = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    sampler = ReferenceSampler(5, 100, stratified=True, train_targets=targets)
    shots = sampler.shots(0, 3)
    # int(0.6*3)=1, int(0.3*3)=0, int(0.1*3)=0; the two left go to the smallest counts in order: b, then c.
    assert sorted(targets[i] for i in shots) == ["a", "b", "c"]
    shots5 = ReferenceSampler(5, 100, stratified=True, train_targets=targets).shots(0, 5)
    assert sorted(targets[i] for i in shots5) == ["a", "a", "a", "b", "c"]


def test_sampler_redraws_fewer_shots_from_the_same_generator():
    # The reference loop written out: shuffle, then per document sample k; while too long, sample k-1 ...
    too_long = {(0, 3), (2, 3), (2, 2), (4, 3)}  # (position, k) combinations that do not fit

    rnd = random.Random(42)
    order = list(range(6))
    rnd.shuffle(order)
    expected = []
    for pos in range(6):
        k = 3
        draw = rnd.sample(range(10), k)
        while (pos, k) in too_long:
            k -= 1
            draw = rnd.sample(range(10), k)
        expected.append(draw)
    sampler = ReferenceSampler(6, 10)
    fits = lambda pos, draw: (pos, len(draw)) not in too_long  # noqa: E731
    assert sampler.order == order
    assert sampler.shots(4, 3, fits) == expected[4]  # later positions first: earlier ones are resolved in order
    assert [sampler.shots(i, 3, fits) for i in range(6)] == expected
    assert [len(x) for x in expected] == [2, 3, 1, 3, 2, 3]
    # Without ``fits`` the draws are the plain ones (unchanged behaviour).
    plain = ReferenceSampler(6, 10)
    rnd = random.Random(42)
    rnd.shuffle(list(range(6)))
    assert [plain.shots(i, 3) for i in range(6)] == [rnd.sample(range(10), 3) for _ in range(6)]
