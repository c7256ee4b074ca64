"""``xrnn demo``: a short demonstration on every available backend.

For each backend it runs a forward pass, the loss and BPTT, and a finite-difference gradient check
in float64, prints what it checked, and returns non-zero if any check fails.
"""

from __future__ import annotations

import random

from xrnn.backends import asarray, available_backends, backend_names, unavailable_reason
from xrnn.cells.rnn import init_parameters, rnn_backward, rnn_forward, rnn_loss_and_gradients
from xrnn.gradcheck import check_rnn_gradients

# The spec's example sizes: n_x=3, n_a=5, n_y=2, m=10, T_x=4.
N_X, N_A, N_Y, M, T_X = 3, 5, 2, 10, 4
TOLERANCE = 1e-6  # float64 central differences with eps=1e-6 agree to about 1e-8 here


def _demo(backend: str, seed: int = 1) -> bool:
    rng = random.Random(seed)
    x = asarray([[[rng.gauss(0, 1) for _ in range(T_X)] for _ in range(M)] for _ in range(N_X)], backend=backend)
    a0 = asarray([[rng.gauss(0, 1) for _ in range(M)] for _ in range(N_A)], backend=backend)
    labels = asarray([[rng.randrange(N_Y) for _ in range(T_X)] for _ in range(M)], backend=backend)
    parameters = init_parameters(N_X, N_A, N_Y, backend=backend, seed=seed, scale=0.5)

    a, y_pred, caches = rnn_forward(x, a0, parameters)
    gradients = rnn_backward(a, caches)  # da = a: the gradient of sum(a**2) / 2
    loss, _ = rnn_loss_and_gradients(x, a0, labels, parameters)
    print(f"[{backend}] forward: a {tuple(a.shape)}, y_pred {tuple(y_pred.shape)}, dtype {a.dtype}")
    print(f"[{backend}] backward: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in gradients.items()))
    print(f"[{backend}] mean cross-entropy {float(loss):.6f}")
    errors = check_rnn_gradients(x, a0, labels, parameters)
    worst = max(errors, key=errors.__getitem__)
    passed = errors[worst] < TOLERANCE
    verdict = "ok" if passed else "FAILED"
    print(f"[{backend}] gradient check vs central differences: worst {worst} {errors[worst]:.1e} -> {verdict}")
    return passed


def run_demo() -> int:
    """Run the demonstration; return the process exit code (0 when every check passes)."""
    print(f"xrnn demo: n_x={N_X}, n_a={N_A}, n_y={N_Y}, m={M}, T_x={T_X}, float64")
    for name in backend_names():
        reason = unavailable_reason(name)
        if reason is not None:
            print(f"[{name}] skipped: {reason}")
    results = [_demo(name) for name in available_backends()]
    print("all checks passed" if all(results) else "some checks FAILED")
    return 0 if all(results) else 1
