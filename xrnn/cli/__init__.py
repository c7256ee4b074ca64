"""The ``xrnn`` command line (also ``python -m xrnn``): :func:`main` in :mod:`xrnn.cli.command`."""

from xrnn.cli.command import build_parser, main

__all__ = ["build_parser", "main"]
