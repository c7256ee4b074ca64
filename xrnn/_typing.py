"""Type aliases shared by the math modules."""

from typing import Any, TypeAlias

#: Any array of an Array API library: NumPy, CuPy, array-api-strict, ...
#: The standard gives no static type, so this stays ``Any``.
Array: TypeAlias = Any
