#!/usr/bin/env bash
# One GPU session's evidence, run from the repository root on a CUDA machine without internet:
# the cupy test session (nox --no-venv) and, when present, the GPU benchmark. Logs go to $OUT
# (default: ./gpu-out). Wheels for what the machine lacks (array-api-compat, nox, ...) in .whl/.
# TEST_ARGS: extra pytest arguments (e.g. the test files to run); BENCH_BUDGET: benchmark seconds.
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/array_api*.whl || exit 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/noxsite \
    $(ls .whl/*.whl | grep -v array_api) || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import cupy, numpy, torch; print('cupy', cupy.__version__, 'cuda runtime', cupy.cuda.runtime.runtimeGetVersion(), 'numpy', numpy.__version__, 'torch', torch.__version__)"
  nproc
} 2>&1 | tee "$OUT/machine.txt"
PYTHONPATH=$PYTHONPATH:/tmp/noxsite timeout "${TESTS_TIMEOUT:-300}" python3 -m nox --no-venv -s "tests(cupy)" -- -q -p no:cacheprovider --durations=10 ${TEST_ARGS:-} 2>&1 | tee "$OUT/tests-cupy.log"
timeout 120 python3 -m xrnn demo 2>&1 | tee "$OUT/demo.log"
if [ -f benchmarks/gpu.py ] && [ -z "${SKIP_BENCH:-}" ]; then
  timeout "${BENCH_TIMEOUT:-300}" python3 -m benchmarks.gpu --output "$OUT" --markdown "$OUT/benchmarks-gpu.md" \
    --budget "${BENCH_BUDGET:-225}" 2>&1 | tee "$OUT/bench-gpu.log"
fi
