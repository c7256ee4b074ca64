"""Benchmarks for xrnn: the timing harness, the baselines and the CPU and GPU suites.

``python -m benchmarks.cpu`` runs the CPU suite, ``python -m benchmarks.gpu`` the GPU one (with
``--dry-run`` it runs every code path on NumPy and torch-CPU), ``python -m benchmarks.docs`` turns a
results JSON into a markdown page and ``python -m benchmarks.profile_cpu`` times each step of one
forward+backward. Performance is measured here, never in timed tests.
"""
