"""``exp``, ``tanh`` and the sigmoid for the compiled kernels: in the argument's dtype, in plain arithmetic
that LLVM vectorises (the C library's ``expf``/``tanhf`` are scalar calls, 5-8x slower per element here).

``exp`` is Cephes' (S. L. Moshier), as in SSE/AVX math libraries: it reduces ``x = n ln 2 + r`` with
``|r| <= ln 2 / 2`` in two parts (Cody-Waite), takes a degree-5 polynomial (float32) or a Padé form
(float64) of ``exp(r)``, and builds ``2^n`` from its bits, with fused multiply-adds where they fit
(fast-math 'contract'). It is *bounded*, not saturated by selects: the argument is clamped so that ``n``
stays between the smallest normal's exponent and one past the largest finite one. Below ``ln(tiny)``
(-87.3 in float32, -708.4 in float64) it gives its value there, the smallest normal number ``tiny`` to
4 digits; from ``(e_max + 1/2) ln 2`` on (88.38, 709.44) the bits of ``2^n`` are ``inf``. That is what
the sigmoid and ``tanh`` need (``1 + tiny`` rounds to ``1``), and the two selects per call it saves were
2-3% of the LSTM's forward kernel (``docs/cpu/fused-kernels-profile.txt``).

``sigmoid(x) = 1 / (1 + exp(-x))`` and ``tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1))``: one ``exp``
and one division each. ``tanh`` has no separate polynomial for small ``|x|``, which cost a second
evaluation and a select per call (4-8% of the forward kernel): its error is within one ``eps``
*absolute*, so relative only from ``|x| = 0.625`` on, which is what a gate in ``[-1, 1]`` needs: it feeds
sums of order 1. Measured against long double on 3 million points in [-100, 100], in units of ``eps``
(``tests/backends/test_numba_gated.py`` holds the bounds): ``exp`` within 0.68 (float32) and 1.05
(float64) relative, the sigmoid within 1.15 and 1.33 relative, ``tanh`` within 0.94 and 0.98 absolute,
and 1.10 and 1.21 relative from ``|x| = 0.625`` on. NumPy's are 1.72 and 0.50 (``exp``), 0.90 and 0.79
(``tanh``, relative).

Saturation is exact and silent: ``sigmoid(-1000) = 1 / (1 + inf) = 0``, ``sigmoid(1000) = 1 / (1 + tiny)
= 1``, ``tanh(+-1000) = +-1``; no value raises, and ``nan`` stays ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numba.core import types
from numba.extending import intrinsic, overload


def _bits_as_float(typingctx: Any, bits: Any) -> Any:
    """The float whose bits are ``bits`` (int32 -> float32, int64 -> float64): one LLVM bitcast."""
    target = types.float32 if bits == types.int32 else types.float64

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(target))

    return target(bits), codegen


_intrinsic: Any = intrinsic
#: The float whose bits are an int32 (float32) or int64 (float64), in compiled code.
_as_float: Callable[[Any], Any] = _intrinsic(_bits_as_float)


def exp(x: Any) -> Any:
    """``e^x`` in ``x``'s dtype, bounded: about ``tiny`` below ``ln(tiny)``, ``inf`` from 88.38 (float32) or
    709.44 (float64) on (compiled code only)."""
    raise NotImplementedError("compiled kernels only")


def tanh(x: Any) -> Any:
    """``tanh(x)`` in ``x``'s dtype, within about one ``eps`` absolute (compiled code only)."""
    raise NotImplementedError("compiled kernels only")


def sigmoid(x: Any) -> Any:
    """``1 / (1 + e^-x)`` in ``x``'s dtype (compiled code only)."""
    raise NotImplementedError("compiled kernels only")


def _exp(x: Any) -> Any:
    if x == types.float32:

        def exp32(x: Any) -> Any:
            # From 88.38 on, n = 128 and the bits of 2^n are inf; at -87.34, n = -126: the smallest normal.
            c = min(max(x, np.float32(-87.33654)), np.float32(88.8))
            n = np.floor(c * np.float32(1.44269504088896341) + np.float32(0.5))
            r = c - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)
            # Estrin's scheme, not Horner's: three independent pairs, so half the dependent chain.
            r2 = r * r
            p54 = np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)
            p32 = np.float32(8.3334519073e-3) * r + np.float32(4.1665795894e-2)
            p10 = np.float32(1.6666665459e-1) * r + np.float32(5.0000001201e-1)
            p = (p54 * r2 + p32) * r2 + p10
            y = p * r2 + r + np.float32(1.0)
            return y * _as_float(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))

        return exp32
    if x == types.float64:

        def exp64(x: Any) -> Any:
            # From 709.44 on, n = 1024 and the bits of 2^n are inf; at -708.4, n = -1022: the smallest normal.
            c = min(max(x, -708.3964), 709.8)
            n = np.floor(c * 1.4426950408889634073599 + 0.5)
            r = c - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
            rr = r * r
            p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
            q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr
            return (1.0 + 2.0 * (p / (q + 2.00000000000000000009e0 - p))) * _as_float(
                np.int64((np.int64(n) + np.int64(1023)) << np.int64(52))
            )

        return exp64
    return None


def _tanh(x: Any) -> Any:
    if x in (types.float32, types.float64):
        one, two = (np.float32(1.0), np.float32(2.0)) if x == types.float32 else (1.0, 2.0)

        def tanh_impl(x: Any) -> Any:
            a = abs(x)
            return math.copysign(one - two / (exp(a + a) + one), x)

        return tanh_impl
    return None


def _sigmoid(x: Any) -> Any:
    if x in (types.float32, types.float64):
        one = np.float32(1.0) if x == types.float32 else 1.0

        def sigmoid_impl(x: Any) -> Any:
            return one / (one + exp(-x))

        return sigmoid_impl
    return None


_overload: Any = overload
# 'contract' only: a * b + c may become one fused multiply-add (shorter chains, one rounding fewer; the
# accuracy tests still pass). No other fast-math flag: 'nnan'/'ninf' would break the exact saturation.
for _stub, _implementations in ((exp, _exp), (tanh, _tanh), (sigmoid, _sigmoid)):
    _overload(_stub, jit_options={"fastmath": {"contract"}})(_implementations)
