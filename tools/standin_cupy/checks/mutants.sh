#!/usr/bin/env bash
# Does the standin_cupy nox session catch regressions? Each mutant below breaks xrnn's CuPy code in one
# place; the session must fail on every one. Each runs in a fresh copy of the checkout's tracked files,
# as `nox --no-venv -s standin_cupy -- -x` on the current interpreter (which needs nox and the test and dask
# extras' packages). Usage: bash tools/standin_cupy/checks/mutants.sh [CHECKOUT]
# (default: the checkout this script is in). Prints one line per mutant; exits 1 if any was not caught, 2 if
# the session fails without a mutant.
set -uo pipefail
src=$(cd "${1:-$(dirname "$0")/../../..}" && pwd)
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
escaped=0

copy_checkout() {
  rm -rf "$copy" && mkdir -p "$copy"
  (cd "$src" && git ls-files -z | tar --null -cf - -T -) | (cd "$copy" && tar -xf -)
}

session_result() {  # the last line nox prints about the session, run in the copy
  (cd "$copy" && nox --no-venv -s standin_cupy -- -x -q 2>&1) | grep -E '^nox > Session standin_cupy' | tail -1
}

mutant() {  # file, sed expression, what it breaks
  local file=$1 edit=$2 label=$3
  copy_checkout
  sed -i "$edit" "$copy/$file"
  if cmp -s "$src/$file" "$copy/$file"; then
    echo "NOT APPLIED (the code changed; update this mutant): $label"
    escaped=1
    return
  fi
  case $(session_result) in
    *"Session standin_cupy failed"*) echo "caught: $label" ;;
    *) echo "ESCAPED: $label"; escaped=1 ;;
  esac
}

# The control: unmutated, the session must pass, or a mutant's failure would prove nothing.
copy_checkout
case $(session_result) in
  *"was successful"*) echo "control: the session passes on the unmutated checkout" ;;
  *) echo "the session does not pass on the unmutated checkout: fix that first"; exit 2 ;;
esac

mutant xrnn/backends/_cublas_capture.py \
  's/leading: int = max(int(matrix.strides\[0\]) \/\/ itemsize, int(matrix.shape\[1\]), 1)/leading: int = max(int(matrix.shape[1]), 1)/' \
  "cuBLAS leading dimension ignores the row stride"
mutant xrnn/backends/_cublas_capture.py \
  's/self.one.ctypes.data, w.data.ptr, _leading(w), a.data.ptr, _leading(a),/self.one.ctypes.data, a.data.ptr, _leading(a), w.data.ptr, _leading(w),/' \
  "cuBLAS GEMM operands swapped"
mutant xrnn/backends/_cupy_gated.py 's/        dc_next = dc \* f;/        dc_next = dc;/' \
  "LSTM backward drops the forget gate from dc"
mutant xrnn/backends/_cupy_gated.py 's/rr_at = ru_at + n_a;/rr_at = first + n_a;/' \
  "GRU forward reads r from the wrong column"
mutant xrnn/backends/_cupy_gated.py 's/        partial = g;/        partial = 0;/' \
  "GRU masked step drops its gradient"
mutant xrnn/backends/_cupy_graphs.py 's/        buffer\[...\] = after/        buffer.fill(0)/' \
  "graph replay ignores the checkpoint's after"
mutant xrnn/backends/_cupy_graphs.py '0,/            self._copy_in(buffers, arrays)/{//d}' \
  "graph replay does not copy the new inputs in"
mutant xrnn/backends/cupy.py 's/"dz = (1 - a \* a) \* (da + carry)"/"dz = (1 - a) * (da + carry)"/' \
  "RNN tanh backward kernel wrong"
mutant xrnn/backends/cupy.py 's/        cp.add(carry, extra, out=carry)/        pass/' \
  "RNN masked backward drops the extra gradient"
exit $escaped
