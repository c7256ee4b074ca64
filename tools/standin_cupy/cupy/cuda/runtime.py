"""Stand-in cupy.cuda.runtime."""

import os


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount() -> int:
    return int(os.environ.get("STANDIN_DEVICES", "1"))


def runtimeGetVersion() -> int:
    return 12040


def driverGetVersion() -> int:
    return 12040


def getDevice() -> int:
    return 0
