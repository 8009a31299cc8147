"""The pair strategy's per-tick kernel call without Numba's per-call type dispatch.

A call through a Numba dispatcher works out the argument types every time (``typeof`` of each
argument, the signature lookup) before the compiled code runs. For ``zscore_score_push`` (two
arrays, three scalars: the parity strategy's one kernel call per tick) that is ~160 of the
call's ~380 ns on the reference VM. ``direct`` compiles (or loads from the on-disk cache) the one
specialisation a caller always uses and returns its entry point, which converts the scalars as
the dispatcher would and runs the same machine code, so the results are the dispatcher's bit for
bit (``tests/kernels/test_pair_direct.py``).

The entry point does not check an array's dtype, dimensions or layout (a float32 or a strided
array would be read as C-contiguous float64 memory): only a caller whose arguments have the
signature's types by construction may use it. ``ZSCORE_PUSH_SIG`` is what
``actors.strategy.strategy.StrategyCore`` passes: its own C-contiguous float64 window arrays, a
Python float sample and clip, a bool warm flag.

``zscore_push`` is that entry point, bound on its first call (or by ``warm_entry()``, which
``kernels.warm_up`` runs at start-up): callers look it up as ``pair_direct.zscore_push`` at each
call. With ``NUMBA_DISABLE_JIT`` (no dispatcher) the kernel itself is used.
"""

from collections.abc import Callable
from typing import Any

from numba import types

from kernels.stats import zscore_score_push

#: ``zscore_score_push(buf, state, x, z_clip, warm)`` as the parity strategy calls it
ZSCORE_PUSH_SIG = (types.float64[::1], types.float64[::1], types.float64, types.float64,
                   types.boolean)


def direct(kernel: Any, sig: tuple[Any, ...]) -> Callable[..., Any]:
    """The compiled specialisation of the ``@njit`` ``kernel`` for the argument types ``sig``
    (compiled, or loaded from the cache, now), callable without type dispatch.

    Args:
        kernel: a Numba dispatcher (or a plain function when the JIT is disabled).
        sig: the argument types, Numba types in order.

    Returns:
        The specialisation's entry point (``kernel`` itself without a dispatcher).
    """
    if not hasattr(kernel, "get_overload"):
        return kernel  # NUMBA_DISABLE_JIT: a plain Python function
    kernel.compile(sig)
    return kernel.get_overload(sig)


def _zscore_push_first(buf: Any, state: Any, x: float, z_clip: float,
                       warm: bool) -> tuple[float, float, float]:
    warm_entry()
    return zscore_push(buf, state, x, z_clip, warm)  # type: ignore[no-any-return]


#: ``zscore_score_push`` for ``ZSCORE_PUSH_SIG`` arguments, without type dispatch
zscore_push: Callable[..., tuple[float, float, float]] = _zscore_push_first


def warm_entry() -> int:
    """Bind ``zscore_push`` now (compiling or loading the kernel); returns 0 (no new kernel:
    ``kernels.warm_up`` counts ``zscore_score_push`` itself)."""
    global zscore_push
    zscore_push = direct(zscore_score_push, ZSCORE_PUSH_SIG)
    return 0


__all__ = ["ZSCORE_PUSH_SIG", "direct", "warm_entry", "zscore_push"]
