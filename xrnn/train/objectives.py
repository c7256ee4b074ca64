"""What each task's step computes, from its compact batch: the loss and gradients, and the evaluation sums.

A batch is what :meth:`xrnn.train.tasks.Task.batch` draws: token ids or a few numbers per sequence, every
array with the batch along axis 0 (``m`` first). An objective turns it into the model's inputs and
targets and runs the task's pattern, so that the batch can be cut along ``m`` and shipped as it is:
:class:`xrnn.parallel.distributed.DataParallel` sends dask workers these ids, not one-hot inputs.
Objectives are small frozen dataclasses that name their cell as a string: they pickle, and a worker
looks the cell up itself (:func:`xrnn.train.config.cell_named`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import array_api_compat

from xrnn._typing import Array
from xrnn.losses import mean_squared_error, softmax_cross_entropy
from xrnn.patterns import (
    many_to_many_logits,
    many_to_many_loss_and_gradients,
    many_to_one_regression_loss_and_gradients,
    many_to_one_regression_predict,
    one_hot_unchecked,
)
from xrnn.train.config import COPY_EXTRA_STEPS, cell_named

Gradients = dict[str, Array]

#: The copy task's alphabet: symbols 0 to 7 to remember, then the blank and the delimiter.
COPY_SYMBOLS, BLANK, DELIMITER = 8, 8, 9
COPY_VOCABULARY = 10
#: How many symbols the copy task shows and asks back.
RECALLED = 10


def _dtype(cell: str, parameters: Mapping[str, Array]) -> object:
    return parameters[cell_named(cell).output_keys[0]].dtype


@dataclass(frozen=True)
class ManyToMany(ABC):
    """An objective with a label at every step, scored by the mean cross-entropy over ``m * T_x`` terms.

    A subclass says how its batch becomes the inputs and the labels (:meth:`inputs`) and how many terms
    the mean runs over (:meth:`terms`); the loss, its gradients and the evaluation are the same for all.
    """

    cell: str

    @abstractmethod
    def inputs(self, parameters: Mapping[str, Array], batch: Array) -> tuple[Array, Array]:
        """``x (n_x, m, T_x)`` one-hot in the parameters' dtype and the labels ``(m, T_x)``."""

    @abstractmethod
    def terms(self, batch: Array) -> int:
        """How many losses the mean runs over."""

    def loss_and_gradients(self, parameters: Mapping[str, Array], batch: Array) -> tuple[Array, Gradients]:
        """The mean loss and ``"d" + key`` for every parameter (and ``dx``, ``da0``)."""
        x, labels = self.inputs(parameters, batch)
        return many_to_many_loss_and_gradients(x, labels, parameters, cell=cell_named(self.cell))

    def state_gradient(self, parameters: Mapping[str, Array], batch: Array) -> tuple[Array, Any]:
        """What the loss sends into each hidden state ``(n_a, m, T_x)``, and the cache (for the gradient flow)."""
        spec = cell_named(self.cell)
        x, labels = self.inputs(parameters, batch)
        xp = array_api_compat.array_namespace(x)
        w_key, b_key = spec.output_keys
        a, cache = spec.forward(x, None, parameters)
        logits = xp.permute_dims(xp.matmul(xp.permute_dims(a, (2, 1, 0)), parameters[w_key].T), (2, 1, 0))
        _, dlogits = softmax_cross_entropy(logits + parameters[b_key][:, :, None], labels)
        da = xp.permute_dims(xp.matmul(xp.permute_dims(dlogits, (2, 1, 0)), parameters[w_key]), (2, 1, 0))
        return da, cache

    def evaluate(self, parameters: Mapping[str, Array], batch: Array) -> dict[str, float]:
        """``{"loss": sum of the losses}`` (forward only)."""
        return {"loss": self._summed_loss(parameters, batch)[0]}

    def _summed_loss(self, parameters: Mapping[str, Array], batch: Array) -> tuple[float, Array]:
        """The sum of the losses and the logits ``(n_y, m, T_x)`` they came from."""
        x, labels = self.inputs(parameters, batch)
        logits = many_to_many_logits(x, parameters, cell=cell_named(self.cell))
        loss, _ = softmax_cross_entropy(logits, labels)
        return float(loss) * self.terms(batch), logits


@dataclass(frozen=True)
class NextToken(ManyToMany):
    """Next-token prediction on windows ``(m, T_x + 1)`` of token ids: inputs ``windows[:, :-1]``, one-hot in
    ``n_x`` classes, and labels ``windows[:, 1:]``, scored by the mean cross-entropy over ``m * T_x`` terms."""

    n_x: int

    def inputs(self, parameters: Mapping[str, Array], windows: Array) -> tuple[Array, Array]:
        """``x (n_x, m, T_x)`` in the parameters' dtype and the labels ``(m, T_x)``."""
        xp = array_api_compat.array_namespace(windows)
        return one_hot_unchecked(xp, windows[:, :-1], self.n_x, _dtype(self.cell, parameters)), windows[:, 1:]

    def terms(self, windows: Array) -> int:
        """How many losses the mean runs over."""
        return int(windows.shape[0]) * (int(windows.shape[1]) - 1)


@dataclass(frozen=True)
class Copy(ManyToMany):
    """The copy task of Arjovsky, Shah and Bengio (2016) from the 10 symbols ``(m, 10)`` of each sequence.

    The input is the symbols, ``delay - 1`` blanks, the delimiter and 10 blanks (``delay + 20`` steps);
    the target is ``delay + 10`` blanks, then the symbols. The loss is the mean cross-entropy over every step.
    """

    delay: int

    def inputs(self, parameters: Mapping[str, Array], symbols: Array) -> tuple[Array, Array]:
        """``x (10, m, delay + 20)`` one-hot in the parameters' dtype and the labels ``(m, delay + 20)``."""
        xp = array_api_compat.array_namespace(symbols)
        m = int(symbols.shape[0])

        def fill(steps: int, token: int) -> Array:
            return xp.full((m, steps), token, dtype=symbols.dtype, device=array_api_compat.device(symbols))

        tokens = xp.concat([symbols, fill(self.delay - 1, BLANK), fill(1, DELIMITER), fill(RECALLED, BLANK)], axis=1)
        labels = xp.concat([fill(self.delay + RECALLED, BLANK), symbols], axis=1)
        return one_hot_unchecked(xp, tokens, COPY_VOCABULARY, _dtype(self.cell, parameters)), labels

    def terms(self, symbols: Array) -> int:
        """How many losses the mean runs over."""
        return int(symbols.shape[0]) * (self.delay + COPY_EXTRA_STEPS)

    def evaluate(self, parameters: Mapping[str, Array], symbols: Array) -> dict[str, float]:
        """The sum of the losses and how many of the recalled symbols the most likely output gets right."""
        xp = array_api_compat.array_namespace(symbols)
        loss, logits = self._summed_loss(parameters, symbols)
        guesses = xp.argmax(logits[:, :, -RECALLED:], axis=0)  # (m, 10)
        correct = xp.sum(xp.astype(guesses == xp.astype(symbols, guesses.dtype), xp.int64))
        return {"loss": loss, "correct": float(correct)}


@dataclass(frozen=True)
class Adding:
    """The adding problem (Hochreiter and Schmidhuber 1997, as in Le, Jaitly and Hinton 2015) from each
    sequence's values ``(m, T_x)`` in ``[0, 1)`` and its two marked positions ``(m, 2)``.

    The input has two channels, the values and the markers; the target is the sum of the two marked
    values, one linear output read at the last step, scored by the mean squared error over ``m`` terms.
    """

    cell: str

    def inputs(self, parameters: Mapping[str, Array], values: Array, positions: Array) -> tuple[Array, Array]:
        """``x (2, m, T_x)`` and the targets ``(1, m)`` (see :func:`adding_inputs`)."""
        return adding_inputs(values, positions)

    def terms(self, values: Array, positions: Array) -> int:
        """How many squared errors the mean runs over."""
        return int(values.shape[0])

    def loss_and_gradients(
        self, parameters: Mapping[str, Array], values: Array, positions: Array
    ) -> tuple[Array, Gradients]:
        """The mean squared error and ``"d" + key`` for every parameter (and ``dx``, ``da0``)."""
        x, targets = self.inputs(parameters, values, positions)
        return many_to_one_regression_loss_and_gradients(x, targets, parameters, cell=cell_named(self.cell))

    def state_gradient(self, parameters: Mapping[str, Array], values: Array, positions: Array) -> tuple[Array, Any]:
        """What the squared error sends into each hidden state ``(n_a, m, T_x)`` (the last step's alone), and
        the cache (for the gradient flow)."""
        spec = cell_named(self.cell)
        x, targets = self.inputs(parameters, values, positions)
        xp = array_api_compat.array_namespace(x)
        w_key, b_key = spec.output_keys
        a, cache = spec.forward(x, None, parameters)
        _, dpredictions = mean_squared_error(xp.matmul(parameters[w_key], a[..., -1]) + parameters[b_key], targets)
        last = xp.matmul(parameters[w_key].T, dpredictions)[..., None]
        steps = xp.arange(int(a.shape[2]), device=array_api_compat.device(a))
        return xp.where(steps == int(a.shape[2]) - 1, last, xp.zeros_like(a)), cache

    def evaluate(self, parameters: Mapping[str, Array], values: Array, positions: Array) -> dict[str, float]:
        """``{"loss": sum of the squared errors}`` (forward only)."""
        x, targets = self.inputs(parameters, values, positions)
        predictions = many_to_one_regression_predict(x, parameters, cell=cell_named(self.cell))
        return {"loss": float(mean_squared_error(predictions, targets)[0]) * self.terms(values, positions)}


def adding_inputs(values: Array, positions: Array) -> tuple[Array, Array]:
    """The adding problem's inputs ``x (2, m, T_x)`` (values, markers) and targets ``(1, m)``, in the values' dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.train.objectives import adding_inputs
    >>> x, targets = adding_inputs(np.array([[0.5, 0.25, 0.125, 1.0]]), np.array([[1, 3]]))
    >>> x[1], targets
    (array([[0., 1., 0., 1.]]), array([[1.25]]))
    """
    xp = array_api_compat.array_namespace(values, positions)
    steps = xp.arange(int(values.shape[1]), dtype=positions.dtype, device=array_api_compat.device(positions))
    markers = xp.astype((steps[None, :] == positions[:, 0:1]) | (steps[None, :] == positions[:, 1:2]), values.dtype)
    return xp.stack([values, markers], axis=0), xp.sum(values * markers, axis=1)[None, :]
