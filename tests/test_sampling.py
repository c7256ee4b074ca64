"""One-to-many: sampling is seeded, follows the model's distribution and sharpens with temperature."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn import init_parameters
from xrnn.cells import get_cell
from xrnn.sampling import sample


def _peaked(backend: TestBackend, dtype: str = "float64") -> dict[str, object]:
    """An RNN that ignores its input and prefers token 2 (logits 0, 0, 2, 0)."""
    host = {key: np.zeros_like(v) for key, v in init_parameters(4, 3, 4, seed=0).items()}
    host["by"] = np.array([[0.0], [0.0], [2.0], [0.0]])
    return backend.tree(host, dtype)


def test_same_seed_same_tokens_other_seed_other_tokens(backend: TestBackend) -> None:
    params = backend.tree(init_parameters(6, 8, 6, seed=1, scale=1.0))
    first = sample(params, 40, prime=[1, 2, 3], seed=7)
    assert first == sample(params, 40, prime=[1, 2, 3], seed=7)
    assert first != sample(params, 40, prime=[1, 2, 3], seed=8)
    assert len(first) == 40
    assert all(0 <= t < 6 for t in first)


def test_a_seed_is_a_non_negative_integer_of_any_integer_type() -> None:
    """``random.Random(-1)`` draws what ``random.Random(1)`` draws: a negative seed would repeat another's."""
    params = init_parameters(6, 8, 6, seed=1, scale=1.0)
    assert sample(params, np.int64(20), seed=np.int64(5)) == sample(params, 20, seed=5)
    for seed, error in ((-1, ValueError), (True, TypeError), (1.5, TypeError), ("1", TypeError)):
        with pytest.raises(error, match=r"seed must be (a non-negative int or None|at least 0), got"):
            sample(params, 3, seed=seed)  # type: ignore[arg-type]


def test_seeded_samples_agree_across_backends(backend: TestBackend) -> None:
    host = init_parameters(5, 7, 5, seed=4, scale=0.5)
    assert sample(backend.tree(host), 30, seed=3) == sample(host, 30, seed=3)


def test_frequencies_follow_the_softmax_and_temperature_sharpens(backend: TestBackend) -> None:
    params = _peaked(backend)
    n = 2000
    # softmax(0, 0, 2, 0): token 2 has e^2 / (3 + e^2) = 0.711
    share = Counter(sample(params, n, seed=0))[2] / n
    assert abs(share - np.e**2 / (3 + np.e**2)) < 0.04
    cold = Counter(sample(params, n, temperature=0.25, seed=0))[2] / n  # e^8 / (3 + e^8) = 0.999
    hot = Counter(sample(params, n, temperature=4.0, seed=0))[2] / n  # e^0.5 / (3 + e^0.5) = 0.355
    assert cold > 0.99
    assert abs(hot - np.exp(0.5) / (3 + np.exp(0.5))) < 0.04


@pytest.mark.parametrize("cell_name", ["lstm", "gru"])
def test_gated_cells_sample_too(cell_name: str) -> None:
    params = get_cell(cell_name).init(5, 4, 5, seed=0, scale=0.5)
    tokens = sample(params, 12, prime=[0, 4], seed=1)
    assert tokens == sample(params, 12, prime=[0, 4], seed=1)
    assert len(tokens) == 12


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": -1}, "length must be at least 0, got -1"),
        ({"length": 3, "temperature": 0.0}, "temperature must be a positive finite number"),
        ({"length": 3, "prime": [9]}, r"prime tokens must be in \[0, n_x\) = \[0, 4\)"),
        ({"length": 3, "cell": "lstm"}, r"parameters is missing \['Wf'"),  # was a bare KeyError: 'Wy'
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample(init_parameters(4, 3, 4, seed=0), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prime", "message"),
    [
        ([1.7], r"prime tokens must be ints, got \[1.7\]"),  # was read as token 1
        ([True], r"prime tokens must be ints, got \[True\]"),
        ("12", "prime must be a sequence of int tokens, got str"),  # was read as tokens 1 and 2
        (None, "prime must be a sequence of int tokens, got NoneType"),
    ],
)
def test_prime_tokens_are_integers(prime: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        sample(init_parameters(4, 3, 4, seed=0), 3, prime=prime)  # type: ignore[arg-type]


def test_numbers_of_any_real_type_are_accepted() -> None:
    """NumPy's scalars are numbers too: ``np.float32(0.5)`` was refused as not a positive number."""
    p = init_parameters(4, 3, 4, seed=0)
    tokens = sample(p, 5, prime=np.array([1, 2]), temperature=np.float32(0.5), seed=np.int64(3))
    assert tokens == sample(p, 5, prime=[1, 2], temperature=0.5, seed=3)


def test_a_model_whose_outputs_are_not_its_inputs_cannot_sample() -> None:
    with pytest.raises(ValueError, match="n_x must equal n_y; got 3 and 2"):
        sample(init_parameters(3, 4, 2, seed=0), 5)


@pytest.mark.parametrize(("dtype", "temperature"), [("float64", 1e-308), ("float32", 1e-40), ("float32", 1e-300)])
def test_a_tiny_temperature_samples_greedily(backend: TestBackend, dtype: str, temperature: float) -> None:
    """The logits over a tiny temperature overflowed to inf and the draw failed ("Total of weights must be finite")."""
    assert sample(_peaked(backend, dtype), 50, temperature=temperature, seed=0) == [2] * 50


def test_a_tiny_temperature_draws_among_the_tied_best(backend: TestBackend) -> None:
    host = {key: np.zeros_like(v) for key, v in init_parameters(4, 3, 4, seed=0).items()}
    host["by"] = np.array([[1.0], [0.0], [1.0], [0.0]])  # tokens 0 and 2 tie for the largest logit
    assert set(sample(backend.tree(host), 200, temperature=1e-300, seed=0)) == {0, 2}
