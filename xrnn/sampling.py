"""One-to-many: generating a sequence from a trained model, one step at a time.

Each generated token is fed back as the next input, so the model must map a vocabulary onto itself
(``n_x == n_y``), as a character language model does. The draws use Python's own seeded generator on
the host, so a seed gives the same text on every backend (up to ties the dtype's rounding may move).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import expect_integer, expect_positive, whole_number
from xrnn.backends import to_numpy
from xrnn.cells import Cell, resolve


def sample(
    parameters: Mapping[str, Array],
    length: int,
    *,
    prime: Sequence[int] = (),
    temperature: float = 1.0,
    seed: int | None = None,
    cell: str | Cell | None = None,
) -> list[int]:
    """Draw ``length`` tokens from a language model of any cell.

    Parameters
    ----------
    parameters : mapping
        A model's parameters with ``n_x == n_y`` (one-hot tokens in, a distribution over them out).
    length : int
        Number of tokens to generate (0 or more).
    prime : sequence of int, optional
        Tokens to run through the model first; generation continues after them. When empty, the
        first input is the zero vector (no token).
    temperature : float
        Positive; the logits are divided by it before the softmax. Below 1 sharpens the
        distribution (towards the most likely token), above 1 flattens it. A tiny temperature
        (``1e-300``) samples greedily: the most likely token, or one of those tied for it.
    seed : int, optional
        Non-negative seed of the draws (any integer type); the same seed gives the same tokens.
    cell : str or Cell, optional
        The model's cell; by default the built-in cell the parameter keys identify.

    Returns
    -------
    list of int
        The generated tokens (without ``prime``).

    Raises
    ------
    ValueError
        ``n_x != n_y``, a negative length, a non-positive temperature, a prime token out of range, a
        negative seed; logits that are not finite (the parameters of a diverged run).
    TypeError
        A seed or a prime token that is not an integer (of any integer type).

    Examples
    --------
    >>> import xrnn
    >>> from xrnn.sampling import sample
    >>> p = xrnn.init_parameters(5, 8, 5, seed=0)
    >>> tokens = sample(p, 10, prime=[1, 2], seed=3)
    >>> len(tokens), all(0 <= t < 5 for t in tokens), tokens == sample(p, 10, prime=[1, 2], seed=3)
    (10, True, True)
    """
    spec = resolve(cell, parameters)
    sizes = spec.sizes(parameters)  # the keys first: a model of another cell is named, not a KeyError
    w_key, b_key = spec.output_keys
    weight, bias = parameters[w_key], parameters[b_key]
    n_x, n_y = sizes["n_x"], sizes["n_y"]
    if n_x != n_y:
        raise ValueError(f"sampling feeds each output back as input, so n_x must equal n_y; got {n_x} and {n_y}")
    length = expect_integer("length", length, low=0, kind="a non-negative int")
    temperature = expect_positive("temperature", temperature)
    kind = "a non-negative int or None"  # random.Random(-1) draws what random.Random(1) draws
    draws = random.Random(None if seed is None else expect_integer("seed", seed, low=0, kind=kind))
    primed = _tokens(prime, n_x)
    xp = array_api_compat.array_namespace(weight)
    device = array_api_compat.device(weight)
    classes = xp.reshape(xp.arange(n_x, device=device), (n_x, 1))

    def one_hot(token: int) -> Array:
        return xp.astype(classes == token, weight.dtype)

    state = spec.zero_state(parameters, 1)
    for xt in [one_hot(t) for t in primed] or [xp.zeros((n_x, 1), dtype=weight.dtype, device=device)]:
        state = spec.step(xt, state, parameters)
    tokens: list[int] = []
    population = range(n_y)
    for index in range(length):
        logits = to_numpy(xp.matmul(weight, state[0]) + bias)[:, 0].tolist()
        if not all(math.isfinite(value) for value in logits):
            raise ValueError(
                f"the model's logits for token {index} are not finite (NaN or inf): do its parameters hold "
                "NaN or inf, as a diverged run's do?"
            )
        token = draws.choices(population, weights=_tempered_weights(logits, temperature))[0]
        tokens.append(token)
        state = spec.step(one_hot(token), state, parameters)
    return tokens


def _tokens(prime: object, n_x: int) -> list[int]:
    """``prime`` as a list of ints in ``[0, n_x)``: integers of any integer type, not floats, strings or bools."""
    if isinstance(prime, (str, bytes)) or not isinstance(prime, Iterable):
        raise TypeError(f"prime must be a sequence of int tokens, got {type(prime).__name__}")
    given = list(prime)
    numbers = [whole_number(token) for token in given]
    tokens = [number for number in numbers if number is not None]
    if len(tokens) < len(given):
        not_ints = [token for token, number in zip(given, numbers, strict=True) if number is None]
        raise TypeError(f"prime tokens must be ints, got {not_ints[:5]}")
    bad = [token for token in tokens if not 0 <= token < n_x]
    if bad:
        raise ValueError(f"prime tokens must be in [0, n_x) = [0, {n_x}), got {bad[:5]}")
    return tokens


def _tempered_weights(logits: list[float], temperature: float) -> list[float]:
    """Unnormalised ``softmax(logits / temperature)`` in Python floats: the largest weight is 1.

    Shifting by the maximum before dividing keeps a tiny temperature finite: the other weights
    underflow to 0 rather than the quotients overflowing to ``inf`` (and ``inf / inf`` to nan).
    """
    top = max(logits)
    return [math.exp((value - top) / temperature) for value in logits]
