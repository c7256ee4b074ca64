"""Beyond one process: Dask arrays sharded along the batch (:mod:`xrnn.parallel.dask_arrays`) and
data-parallel training on a ``dask.distributed`` cluster (:mod:`xrnn.parallel.distributed`).

Neither imports Dask until it is used.
"""

from xrnn.parallel import dask_arrays, distributed

__all__ = ["dask_arrays", "distributed"]
