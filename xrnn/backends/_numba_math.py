"""``exp``, ``tanh`` and the sigmoid for the compiled kernels: in the argument's dtype, in plain arithmetic
that LLVM vectorises (the C library's ``expf``/``tanhf`` are scalar calls, 5-8x slower per element here).

The methods are Cephes' (S. L. Moshier), as in SSE/AVX math libraries: ``exp`` reduces ``x = n ln 2 + r``
with ``|r| <= ln 2 / 2`` in two parts (Cody-Waite), takes a degree-5 polynomial (float32) or a Padé
form (float64) of ``exp(r)``, and builds ``2^n`` from its bits; ``tanh`` takes an odd polynomial
(float32) or rational form (float64) below ``|x| = 0.625`` and ``1 - 2 / (exp(2|x|) + 1)`` above, with
fused multiply-adds where they fit (fast-math 'contract'). Measured against long double on 3 million
evenly spaced points in [-100, 100], as relative error in units of eps (``tests/backends/test_numba_gated.py``
holds them to NumPy's): at most 0.71 (exp) and 1.07 (tanh) in float32, 1.17 and 1.10 in float64, where
NumPy's are 1.72 and 0.90, 0.50 and 0.79.

Saturation is exact and silent: ``exp`` gives ``inf`` above 88.3 (float32) or 709 (float64) and 0
below the smallest normal's logarithm, so ``sigmoid(-1000) = 1 / (1 + inf) = 0``, ``sigmoid(1000) = 1``
and ``tanh(+-1000) = +-1``; no value is nan or raises.
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
    """``e^x`` in ``x``'s dtype (compiled code only)."""
    raise NotImplementedError("compiled kernels only")


def tanh(x: Any) -> Any:
    """``tanh(x)`` in ``x``'s dtype (compiled code only)."""
    raise NotImplementedError("compiled kernels only")


def sigmoid(x: Any) -> Any:
    """``1 / (1 + e^-x)`` in ``x``'s dtype (compiled code only)."""
    raise NotImplementedError("compiled kernels only")


def _exp(x: Any) -> Any:
    if x == types.float32:

        def exp32(x: Any) -> Any:
            c = min(max(x, np.float32(-87.33654)), np.float32(88.3))
            n = np.floor(c * np.float32(1.44269504088896341) + np.float32(0.5))
            r = c - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)
            # Estrin's scheme, not Horner's: three independent pairs, so half the dependent chain.
            r2 = r * r
            p54 = np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)
            p32 = np.float32(8.3334519073e-3) * r + np.float32(4.1665795894e-2)
            p10 = np.float32(1.6666665459e-1) * r + np.float32(5.0000001201e-1)
            p = (p54 * r2 + p32) * r2 + p10
            y = p * r2 + r + np.float32(1.0)
            y = y * _as_float(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))
            return np.float32(np.inf) if x > np.float32(88.3) else (np.float32(0.0) if x < np.float32(-87.33654) else y)

        return exp32
    if x == types.float64:

        def exp64(x: Any) -> Any:
            c = min(max(x, -708.3964), 709.0)
            n = np.floor(c * 1.4426950408889634073599 + 0.5)
            r = c - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
            rr = r * r
            p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
            q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr
            y = (1.0 + 2.0 * (p / (q + 2.00000000000000000009e0 - p))) * _as_float(
                np.int64((np.int64(n) + np.int64(1023)) << np.int64(52))
            )
            return np.inf if x > 709.0 else (0.0 if x < -708.3964 else y)

        return exp64
    return None


def _tanh(x: Any) -> Any:
    if x == types.float32:

        def tanh32(x: Any) -> Any:
            a = abs(x)
            big = np.float32(1.0) - np.float32(2.0) / (exp(min(a + a, np.float32(88.0))) + np.float32(1.0))
            z = x * x
            p = (np.float32(-5.70498872745e-3) * z + np.float32(2.06390887954e-2)) * z - np.float32(5.37397155531e-2)
            small = ((p * z + np.float32(1.33314422036e-1)) * z - np.float32(3.33332819422e-1)) * z * x + x
            return small if a < np.float32(0.625) else math.copysign(big, x)

        return tanh32
    if x == types.float64:

        def tanh64(x: Any) -> Any:
            a = abs(x)
            big = 1.0 - 2.0 / (exp(min(a + a, 709.0)) + 1.0)
            s = x * x
            p = (-9.64399179425052238628e-1 * s - 9.92877231001918586564e1) * s - 1.61468768441708447952e3
            q = ((s + 1.12811678491632931402e2) * s + 2.23548839060100448583e3) * s + 4.84406305325125486048e3
            small = x + x * s * (p / q)
            return small if a < 0.625 else math.copysign(big, x)

        return tanh64
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
