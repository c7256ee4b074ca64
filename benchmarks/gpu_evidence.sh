#!/usr/bin/env bash
# One GPU session's evidence, run from the repository root on a CUDA machine without internet, in about
# 8 minutes of commands (plus the machine's start-up: a 10-minute device slot). Every step has its own
# timeout, so one that hangs cannot take the others' time:
#   1. the cupy test session (nox --no-venv) on TEST_ARGS, by default the CuPy scans' tests and the
#      gated cells' suite on CuPy arrays (TESTS_TIMEOUT, 150 s);
#   2. the gated grid of benchmarks.gpu: LSTM and GRU, n_a 128/512/2048, m 16/128, float32/float64
#      (GATED_BUDGET 170 s, GATED_TIMEOUT 210 s);
#   3. a reduced RNN grid: n_a 128/512/2048, m 16/128 (RNN_BUDGET 80 s, RNN_TIMEOUT 110 s);
#   4. the demo, when DEMO is set (60 s).
# Logs and results go to $OUT (default: ./gpu-out): bench-gated/ and bench-rnn/ each hold gpu.json and
# a markdown page. Wheels for what the machine lacks (array-api-compat, nox, ...) in .whl/.
# TEST_ARGS: pytest arguments (the test files to run); SKIP_BENCH: no benchmark.
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
TEST_ARGS=${TEST_ARGS:-tests/backends/test_cupy.py tests/test_lstm.py tests/test_gru.py tests/test_masking.py}
PYTHONPATH=$PYTHONPATH:/tmp/noxsite timeout "${TESTS_TIMEOUT:-150}" python3 -m nox --no-venv -s "tests(cupy)" -- \
  -q -p no:cacheprovider --durations=10 $TEST_ARGS 2>&1 | tee "$OUT/tests-cupy.log"
if [ -f benchmarks/gpu.py ] && [ -z "${SKIP_BENCH:-}" ]; then
  timeout "${GATED_TIMEOUT:-210}" python3 -m benchmarks.gpu --cells lstm,gru --output "$OUT/bench-gated" \
    --markdown "$OUT/bench-gated/benchmarks-gpu.md" --budget "${GATED_BUDGET:-170}" --cell-budget 0.8 \
    2>&1 | tee "$OUT/bench-gated.log"
  timeout "${RNN_TIMEOUT:-110}" python3 -m benchmarks.gpu --cells rnn --n-a 128,512,2048 --batches 16,128 \
    --output "$OUT/bench-rnn" --markdown "$OUT/bench-rnn/benchmarks-gpu.md" --budget "${RNN_BUDGET:-80}" \
    --cell-budget 0.5 --cpu-repeats 1 2>&1 | tee "$OUT/bench-rnn.log"
fi
if [ -n "${DEMO:-}" ]; then
  timeout 60 python3 -m xrnn demo 2>&1 | tee "$OUT/demo.log"
fi
