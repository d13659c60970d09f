"""How much memory training takes, and refusing tables too large for the machine.

Used by the ``hypercube`` command before it allocates the model.
"""

from __future__ import annotations

import os

try:
    import resource
except ImportError:  # not on Windows
    resource = None

# Peak memory of a training step in units of the factors' 3 n^3 entries, measured at
# n = 160 and 200: the factors, their gradients and momentum, the stacked copies of the
# regularizer's Gram matrices and their gradients, and the gradient buffers of the products.
TRAINING_COPIES = 10


class MemoryShortageError(ValueError):
    """Training the model of a table would need more memory than the process can get."""


def training_memory(n: int, double_precision: bool = False) -> int:
    """Bytes, about, that training a :class:`HyperCubeModule` of ``n`` elements takes.

    The factors ``A, B, C`` hold ``3 n^3`` entries; a training step peaks at about
    :data:`TRAINING_COPIES` times as many (gradients, momentum, the regularizer's copies
    and the gradient buffers of the products): ``10 * 3 n^3 * (4 bytes, or 8 in double
    precision)``.

    Example:
        >>> training_memory(100) / 1e6
        120.0
    """
    return TRAINING_COPIES * 3 * n**3 * (8 if double_precision else 4)


def available_memory() -> int | None:
    """Bytes this process can still allocate, about (``None`` if the system does not say):
    the least of the memory the kernel counts as available (``MemAvailable``), the room
    under the address-space limit (``ulimit -v``) and the memory limit of the cgroup."""
    room = [_kernel_available()]
    address_limit, _ = resource.getrlimit(resource.RLIMIT_AS) if resource else (-1, -1)
    if resource and address_limit != resource.RLIM_INFINITY:
        room.append(address_limit - _process_memory("VmSize"))
    cgroup_limit = _cgroup_limit()
    if cgroup_limit is not None:
        room.append(cgroup_limit - _process_memory("VmRSS"))
    known = [value for value in room if value is not None]
    return max(0, min(known)) if known else None


def _kernel_available() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def _process_memory(field: str) -> int:
    """``VmSize`` or ``VmRSS`` of this process in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return 0


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2, else v1), if it has one."""
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file) as stream:
                text = stream.read().strip()
        except OSError:
            continue
        # v2 writes "max" for no limit, v1 a number near 2^63.
        return int(text) if text.isdigit() and int(text) < 2**60 else None
    return None


def check_memory(n: int, source: str, *, double_precision: bool = False) -> None:
    """Refuse, before anything is allocated, a table whose model cannot be trained here.

    Args:
        n: number of elements of the table.
        source: what the table is called in the message (its file or name).
        double_precision: the model trains in float64.

    Raises:
        MemoryShortageError: naming ``source``, ``n``, the memory needed and the memory
            available, when :func:`training_memory` exceeds :func:`available_memory`.
    """
    needed, available = training_memory(n, double_precision), available_memory()
    if available is None or needed <= available:
        return
    largest = round((available / training_memory(1, double_precision)) ** (1 / 3))
    while training_memory(largest, double_precision) > available:  # the float cube root
        largest -= 1  # is off by one at worst
    while training_memory(largest + 1, double_precision) <= available:
        largest += 1
    kind = "float64" if double_precision else "float32"
    raise MemoryShortageError(
        f"{source}: a table of n = {n} elements needs about {_size(needed)} of memory to"
        f" train ({TRAINING_COPIES} x 3 n^3 {kind}: the factors, their gradients and"
        f" momentum), but {_size(available)} is available; n <= {largest} fits"
    )


def _size(count: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
