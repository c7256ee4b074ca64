"""SGD with momentum and Adam for a dict of parameters, on any Array API library.

An optimizer is a small object that holds its hyper-parameters, its step count and its slots
(per-parameter running averages). :meth:`Optimizer.update` returns a *new* parameter dict and
replaces the slots with new arrays (all at once, after every parameter is done): neither the
caller's parameters nor the gradients are written to.
:meth:`Optimizer.state_dict` and :func:`optimizer_from_state` carry the whole state through a
checkpoint, so training resumes exactly where it stopped.

Gradients are looked up by the parameter name with a ``d`` in front (``dWax`` for ``Wax``), the
convention of :func:`xrnn.rnn_loss_and_gradients`; extra gradients (``dx``, ``da0``) are ignored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_fraction, expect_positive

#: ``{"name": str, "config": {hyper-parameter: number}, "step": int, "slots": {slot: {key: array}}}``
OptimizerState = dict[str, Any]


class Optimizer(ABC):
    """Shared machinery: the step count, the slots and their checks."""

    name: ClassVar[str]
    slot_names: ClassVar[tuple[str, ...]]

    def __init__(self, lr: float) -> None:
        self.lr = expect_positive("lr", lr)
        self.step = 0
        self.slots: dict[str, dict[str, Array]] = {}

    @property
    def config(self) -> dict[str, float]:
        """The hyper-parameters, as keyword arguments of the constructor."""
        return {"lr": self.lr}

    def update(self, parameters: Mapping[str, Array], gradients: Mapping[str, Array]) -> dict[str, Array]:
        """One optimisation step.

        Parameters
        ----------
        parameters : mapping of str to array
            The current parameters (any shapes; one library, dtype and device).
        gradients : mapping of str to array
            ``"d" + key`` for every key of ``parameters``, each of that parameter's shape.

        Returns
        -------
        dict
            New parameters; ``parameters`` is left as it was.

        Raises
        ------
        ValueError
            A missing gradient, a gradient whose shape differs from its parameter's, or a parameter whose
            optimizer state (from earlier updates) is missing or of another shape.
        TypeError
            Parameters, gradients and optimizer state of more than one library, dtype or device.
        """
        if not isinstance(parameters, Mapping) or not isinstance(gradients, Mapping):
            raise TypeError(
                f"parameters and gradients must be mappings of names to arrays, got "
                f"{type(parameters).__name__} and {type(gradients).__name__}"
            )
        if not parameters:
            raise ValueError("parameters is empty: there is nothing to update")
        named = {}
        for key, value in parameters.items():
            gradient = gradients.get("d" + key)
            if gradient is None:
                raise ValueError(f"gradients is missing 'd{key}' for parameter {key!r}")
            _expect_shape_of(f"gradients['d{key}']", gradient, key, value)
            named[f"parameters[{key!r}]"] = value
            named[f"gradients['d{key}']"] = gradient
            for slot, values in self.slots.items():  # the state of earlier updates, made for these parameters?
                if key not in values:
                    raise ValueError(f"parameter {key!r} has no optimizer state; the optimizer was made for other keys")
                _expect_shape_of(f"the optimizer's {slot!r} state of {key!r}", values[key], key, value)
                named[f"the optimizer's {slot!r} state of {key!r}"] = values[key]
        xp = common_namespace(named)
        slots = self.slots or {
            slot: {key: xp.zeros_like(v) for key, v in parameters.items()} for slot in self.slot_names
        }
        step = self.step + 1
        new_parameters, new_slots = {}, {slot: dict(values) for slot, values in slots.items()}
        for key, value in parameters.items():
            old = {slot: values[key] for slot, values in slots.items()}
            new_parameters[key], updated = self._apply(xp, step, value, gradients["d" + key], old)
            for slot, array in updated.items():
                new_slots[slot][key] = array
        self.step, self.slots = step, new_slots  # committed only once every parameter is done
        return new_parameters

    @abstractmethod
    def _apply(
        self, xp: ModuleType, step: int, value: Array, gradient: Array, slots: dict[str, Array]
    ) -> tuple[Array, dict[str, Array]]:
        """The new value of one parameter at update number ``step``, and its new slot values."""

    def state_dict(self) -> OptimizerState:
        """Everything needed to continue exactly: name, hyper-parameters, step count, slots.

        The slot dicts are new dicts holding the optimizer's arrays (which it never writes to).
        """
        return {
            "name": self.name,
            "config": self.config,
            "step": self.step,
            "slots": {slot: dict(arrays) for slot, arrays in self.slots.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take over the step count and slots of :meth:`state_dict` (hyper-parameters stay as built)."""
        if state.get("name") != self.name:
            raise ValueError(f"state is for optimizer {state.get('name')!r}, not {self.name!r}")
        step = state.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"state['step'] must be a non-negative int, got {step!r}")
        slots = state.get("slots", {})
        if step > 0 and set(slots) != set(self.slot_names):
            raise ValueError(f"state['slots'] must have {list(self.slot_names)}, got {sorted(slots)}")
        self.step = step
        self.slots = {slot: dict(slots[slot]) for slot in self.slot_names} if step > 0 else {}


def _expect_shape_of(name: str, array: Any, key: str, parameter: Any) -> None:
    if not hasattr(array, "shape"):
        raise TypeError(f"{name} must be an array, got {type(array).__name__}")
    if tuple(array.shape) != tuple(parameter.shape):
        raise ValueError(
            f"{name} must have the shape of parameters[{key!r}] = {tuple(parameter.shape)}, got {tuple(array.shape)}"
        )


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (heavy-ball) momentum.

    ``v = momentum * v + g`` and ``p = p - lr * v``, as in PyTorch's ``torch.optim.SGD``; with
    ``momentum=0`` this is plain ``p = p - lr * g`` and keeps no slots.

    Parameters
    ----------
    lr : float
        Learning rate (positive).
    momentum : float
        In ``[0, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.train.optimizers import SGD
    >>> sgd = SGD(lr=0.1, momentum=0.9)
    >>> p = {"w": np.array([1.0])}
    >>> p = sgd.update(p, {"dw": np.array([1.0])})  # v = 1
    >>> p = sgd.update(p, {"dw": np.array([1.0])})  # v = 0.9 + 1
    >>> p["w"].round(6), sgd.step
    (array([0.71]), 2)
    """

    name = "sgd"

    def __init__(self, lr: float = 0.1, momentum: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = expect_fraction("momentum", momentum)

    @property
    def slot_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("velocity",) if self.momentum else ()

    @property
    def config(self) -> dict[str, float]:
        return {"lr": self.lr, "momentum": self.momentum}

    def _apply(
        self, xp: ModuleType, step: int, value: Array, gradient: Array, slots: dict[str, Array]
    ) -> tuple[Array, dict[str, Array]]:
        if not self.momentum:
            return value - self.lr * gradient, {}
        velocity = self.momentum * slots["velocity"] + gradient
        return value - self.lr * velocity, {"velocity": velocity}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction.

    With step count ``t`` (1 at the first update)::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    Parameters
    ----------
    lr : float
        Learning rate (positive).
    beta1, beta2 : float
        Decay rates of the first and second moment averages, in ``[0, 1)``.
    eps : float
        Added to the denominator (positive).

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.train.optimizers import Adam
    >>> adam = Adam(lr=0.01)
    >>> new = adam.update({"w": np.array([1.0, 1.0])}, {"dw": np.array([0.5, -3.0])})
    >>> new["w"].round(6)  # the first step moves each entry by about lr, against its gradient
    array([0.99, 1.01])
    """

    name = "adam"
    slot_names = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta1, self.beta2 = expect_fraction("beta1", beta1), expect_fraction("beta2", beta2)
        self.eps = expect_positive("eps", eps)

    @property
    def config(self) -> dict[str, float]:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _apply(
        self, xp: ModuleType, step: int, value: Array, gradient: Array, slots: dict[str, Array]
    ) -> tuple[Array, dict[str, Array]]:
        m = self.beta1 * slots["m"] + (1 - self.beta1) * gradient
        v = self.beta2 * slots["v"] + (1 - self.beta2) * (gradient * gradient)
        m_hat = m * (1 / (1 - self.beta1**step))
        v_hat = v * (1 / (1 - self.beta2**step))
        return value - self.lr * m_hat / (xp.sqrt(v_hat) + self.eps), {"m": m, "v": v}


OPTIMIZERS: dict[str, type[SGD] | type[Adam]] = {"sgd": SGD, "adam": Adam}


def make_optimizer(name: str, **config: float) -> Optimizer:
    """An optimizer by name (``"sgd"`` or ``"adam"``) with hyper-parameters as keywords.

    Parameters
    ----------
    name : {"sgd", "adam"}
        The optimizer.
    **config
        Its constructor's keywords: ``lr`` and ``momentum`` for :class:`SGD`; ``lr``, ``beta1``, ``beta2``
        and ``eps`` for :class:`Adam`.

    Returns
    -------
    Optimizer
        A new optimizer, at step 0.

    Examples
    --------
    >>> from xrnn.train.optimizers import make_optimizer
    >>> make_optimizer("adam", lr=0.005).config["lr"]
    0.005
    """
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}") from None
    return cls(**config)


def optimizer_from_state(state: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer from :meth:`Optimizer.state_dict`: same hyper-parameters, step and slots.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.train.optimizers import Adam, optimizer_from_state
    >>> adam = Adam(lr=0.01)
    >>> _ = adam.update({"w": np.ones(2)}, {"dw": np.ones(2)})
    >>> again = optimizer_from_state(adam.state_dict())
    >>> again.step, again.config == adam.config
    (1, True)
    """
    if not isinstance(state, Mapping) or not isinstance(state.get("config", {}), Mapping):
        raise TypeError(f"state must be a state_dict (a mapping with a 'config' mapping), got {state!r:.80}")
    optimizer = make_optimizer(str(state.get("name")), **dict(state.get("config", {})))
    optimizer.load_state_dict(state)
    return optimizer
