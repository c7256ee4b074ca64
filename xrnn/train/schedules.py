"""Learning-rate schedules: the rate of each step as a pure function of the step, so that resuming is exact.

Each schedule starts at the configured rate ``lr`` and, except ``constant``, ends at ``lr / 100`` after
``decay_steps`` steps (the run's ``steps`` unless given; a resumed run keeps the value it started with):

* ``constant``: ``lr`` at every step;
* ``cosine``: ``lr * (0.01 + 0.99 * (1 + cos(pi * min(s - 1, H) / H)) / 2)`` at step ``s`` (1-based), for
  ``H = decay_steps``: ``lr`` at step 1, ``lr / 100`` from step ``H + 1`` on;
* ``step``: ``lr``, then ``lr / 10`` after ``H // 2`` steps and ``lr / 100`` after ``3 * H // 4``.
"""

from __future__ import annotations

import math

from xrnn._validation import expect_integer, expect_positive

SCHEDULES = ("constant", "cosine", "step")
#: The fraction of ``lr`` the decaying schedules end at.
FLOOR = 0.01


def learning_rate(schedule: str, lr: float, step: int, decay_steps: int) -> float:
    """The learning rate of ``step`` (1-based) under ``schedule``.

    Parameters
    ----------
    schedule : {"constant", "cosine", "step"}
        The schedule (see the module's description).
    lr : float
        The rate at step 1 (positive).
    step : int
        The step, from 1.
    decay_steps : int
        The steps over which the decaying schedules fall to ``lr / 100`` (at least 1).

    Returns
    -------
    float

    Examples
    --------
    >>> from xrnn.train.schedules import learning_rate
    >>> [round(learning_rate("cosine", 0.1, s, 4), 5) for s in range(1, 7)]
    [0.1, 0.0855, 0.0505, 0.0155, 0.001, 0.001]
    >>> [learning_rate("step", 1.0, s, 8) for s in (4, 5, 6, 7, 9)]
    [1.0, 0.1, 0.1, 0.01, 0.01]
    """
    lr = expect_positive("lr", lr)
    step = expect_integer("step", step, low=1, kind="an int", why=" (steps count from 1)")
    if schedule in SCHEDULES and schedule != "constant":  # the constant rate has no horizon to check
        decay_steps = expect_integer("decay_steps", decay_steps, low=1, kind="an int")
    return rate(schedule, lr, step, decay_steps)


def rate(schedule: str, lr: float, step: int, decay_steps: int) -> float:
    """:func:`learning_rate` for arguments checked already (a configuration's, at every training step)."""
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        progress = min(step - 1, decay_steps) / decay_steps
        return lr * (FLOOR + (1 - FLOOR) * (1 + math.cos(math.pi * progress)) / 2)
    if schedule == "step":
        drops = int(step > decay_steps // 2) + int(step > 3 * decay_steps // 4)
        return lr / float(10**drops)
    raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
