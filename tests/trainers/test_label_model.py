"""Majority vote and the Dawid-Skene label model on votes whose true classes are known."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.methods.label_model import DawidSkene, majority_vote


def _synthetic_votes(accuracies, n=3000, n_classes=4, abstain=0.2, seed=0):
    """Return true classes and the votes of sources with the given accuracies.

    A wrong vote is one of the other classes uniformly; each source abstains
    on a random share ``abstain`` of the items.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n)
    votes = np.empty((n, len(accuracies)), dtype=int)
    for j, accuracy in enumerate(accuracies):
        right = rng.random(n) < accuracy
        wrong = (truth + rng.integers(1, n_classes, n)) % n_classes
        votes[:, j] = np.where(right, truth, wrong)
        votes[rng.random(n) < abstain, j] = -1
    return truth, votes


def test_estimates_source_accuracies():
    accuracies = [0.9, 0.75, 0.55, 0.4, 0.35]
    _, votes = _synthetic_votes(accuracies)
    model = DawidSkene().fit(votes, 4)
    assert np.allclose(model.accuracies_, accuracies, atol=0.05)


def test_beats_majority_with_weak_sources():
    # Measured with seed 0: label model 0.87, majority vote 0.76.
    truth, votes = _synthetic_votes([0.9, 0.75, 0.55, 0.4, 0.35])
    majority, _ = majority_vote(votes, 4)
    model = DawidSkene().fit(votes, 4)
    covered = (votes >= 0).any(axis=1)
    model_accuracy = (model.predict()[covered] == truth[covered]).mean()
    majority_accuracy = (majority[covered] == truth[covered]).mean()
    assert model_accuracy > majority_accuracy + 0.08


def test_equal_sources_match_majority():
    truth, votes = _synthetic_votes([0.8, 0.8, 0.8], abstain=0.0)
    majority, _ = majority_vote(votes, 4)
    model = DawidSkene().fit(votes, 4)
    assert abs((model.predict() == truth).mean() - (majority == truth).mean()) < 0.02


def test_unipolar_rules_carry_information():
    # Two rules per class that only ever vote their own class: a precise one
    # (fires on 60 % of its class, 5 % of the others) and a sloppy one (60 %
    # and 40 %). Measured with seed 1: estimated accuracies 0.85-0.88 and
    # 0.41-0.46 against true 0.85-0.87 and 0.43; label model 0.77 and
    # majority vote 0.69 on the covered items.
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 3000)
    columns = []
    for k in range(3):
        for hit, false in ((0.6, 0.05), (0.6, 0.4)):
            fires = rng.random(3000) < np.where(truth == k, hit, false)
            columns.append(np.where(fires, k, -1))
    votes = np.stack(columns, axis=1)
    model = DawidSkene().fit(votes, 3)
    majority, _ = majority_vote(votes, 3)
    covered = (votes >= 0).any(axis=1)
    observed = [(truth[v >= 0] == v[v >= 0]).mean() for v in votes.T]
    assert np.allclose(model.accuracies_, observed, atol=0.05)
    model_accuracy = (model.predict()[covered] == truth[covered]).mean()
    assert model_accuracy > (majority[covered] == truth[covered]).mean() + 0.05


def test_items_without_votes_get_none():
    votes = np.array([[0, -1], [-1, -1], [1, 1], [0, 0]])
    model = DawidSkene().fit(votes, 2)
    majority, share = majority_vote(votes, 2)
    assert model.predict()[1] == -1
    assert not model.posteriors_[1].any()
    assert majority[1] == -1
    assert share[1] == 0.0


def test_majority_shares_and_ties():
    votes = np.array([[0, 0, 1], [1, 0, -1], [2, 2, 2]])
    winner, share = majority_vote(votes, 3)
    assert winner.tolist() == [0, 0, 2]
    assert np.allclose(share, [2 / 3, 0.5, 1.0])


@pytest.mark.parametrize("votes, n_classes, message", [
    (np.array([0, 1]), 2, "2-D"),
    (np.array([[0, 3]]), 3, "below 3"),
    (np.array([[0, -2]]), 3, "-1"),
    (np.array([[0, 1]]), 1, "n_classes"),
])
def test_invalid_votes_rejected(votes, n_classes, message):
    with pytest.raises(ValueError, match=message):
        DawidSkene().fit(votes, n_classes)
