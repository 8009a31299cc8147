"""Kernel package basics: exports, decorators, warm-up, and jit == py_func on random inputs."""

import numpy as np
import pytest

import kernels
from kernels import (
    best_lot_pair,
    book_apply,
    book_clear,
    book_crossed,
    book_set_level,
    zscore_init,
    zscore_mean_std,
    zscore_update,
)
from tests.support.oracles import basis, hedge_lots, parity, ratio, spread, walk_book, zscore_series

KERNEL_NAMES = [name for name in kernels.__all__ if name != "warm_up"]


@pytest.fixture(scope="module", autouse=True)
def _warm():
    kernels.warm_up()


def test_all_exports_resolve():
    for name in kernels.__all__:
        assert callable(getattr(kernels, name))
    assert len(KERNEL_NAMES) == 13  # the engine's; the rest are oracles (tests/support)


def test_warm_up_counts_every_kernel_and_compiles_it():
    from kernels import carry, kalman, pricing

    # the package's own kernels, and each strategy kind's module's (counted by its warm())
    assert kernels.warm_up() == len(KERNEL_NAMES) + pricing.warm() + carry.warm() + kalman.warm()
    for name in KERNEL_NAMES:
        assert getattr(kernels, name).signatures, f"{name} not compiled by warm_up"


def test_the_hot_path_compiles_nothing_after_warm_up():
    """Ticks through the Book and the Strategy use only signatures warm_up compiled."""
    from actors.book import BookCore
    from actors.strategy.strategy import MIN_WARM_SAMPLES, StrategyCore
    from transports.config.engine import load_config
    from transports.wire.messages import BookDelta, BookSnapshot, BookUpdate

    kernels.warm_up()
    before = {name: len(getattr(kernels, name).signatures) for name in KERNEL_NAMES}
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = cfg.pairs[0]
    s = StrategyCore("s", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)
    b = BookCore("book.shfe:au2606", "shfe", "au2606", ["s"], depth=5)
    b.handle(BookSnapshot("shfe", "au2606", 1, 0, 0, [(30700, 5)], [(30702, 5)]), 0)
    s.handle(BookUpdate("fx", "USDCNH", True, 0, 0, 0, [71999], [9], [72001], [9]), 0)
    s.handle(BookUpdate("comex", "GCZ6", True, 0, 0, 0, [26499], [9], [26501], [9]), 0)
    for i in range(MIN_WARM_SAMPLES + 5):
        (_, u), = b.handle(BookDelta("shfe", "au2606", 2 + i, 0, 0, [(30700, 5 + i % 3)],
                                     [(30703, 1)] if i % 2 else []), 0)
        s.handle(u, 0)
    after = {name: len(getattr(kernels, name).signatures) for name in KERNEL_NAMES}
    assert after == before


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_every_kernel_is_njit_cached_nogil(name):
    disp = getattr(kernels, name)
    assert hasattr(disp, "py_func")
    assert disp.targetoptions.get("nogil") is True
    assert disp.targetoptions.get("nopython", True) is True
    assert type(disp._cache).__name__ != "NullCache"


def _new_side(depth):
    return np.zeros(depth, np.int64), np.zeros(depth, np.int64), np.zeros(1, np.int64)


@pytest.mark.parametrize("is_bid", [True, False, 1, 0])
def test_book_set_level_and_apply_match_py_func(is_bid):
    rng = np.random.default_rng(11)
    for _ in range(40):
        depth = int(rng.integers(1, 7))
        jit_side = _new_side(depth)
        py_side = _new_side(depth)
        for _ in range(30):
            price = int(rng.integers(95, 106))
            qty = int(rng.integers(-1, 4))
            got = book_set_level(*jit_side, is_bid, price, qty)
            want = book_set_level.py_func(*py_side, is_bid, price, qty)
            assert got == want
            for a, b in zip(jit_side, py_side, strict=True):
                assert np.array_equal(a, b)
        levels = rng.integers(95, 106, size=(8, 2)).astype(np.int64)
        levels[:, 1] = rng.integers(0, 4, size=8)
        assert book_apply(*jit_side, is_bid, levels) == book_apply.py_func(*py_side, is_bid, levels)
        for a, b in zip(jit_side, py_side, strict=True):
            assert np.array_equal(a, b)
        book_clear(jit_side[2])
        book_clear.py_func(py_side[2])
        assert jit_side[2][0] == py_side[2][0] == 0


def test_walk_book_and_crossed_match_py_func():
    rng = np.random.default_rng(12)
    for _ in range(200):
        depth = int(rng.integers(0, 6))
        bid_px = np.sort(rng.choice(np.arange(90, 110), size=depth, replace=False))[::-1].copy()
        ask_px = np.sort(rng.choice(np.arange(95, 115), size=depth, replace=False)).copy()
        qty = rng.integers(0, 5, size=depth).astype(np.int64)
        n = int(rng.integers(-1, depth + 2))
        clip = int(rng.integers(-1, 12))
        got = walk_book(bid_px.astype(np.int64), qty, n, clip)
        want = walk_book.py_func(bid_px.astype(np.int64), qty, n, clip)
        assert got[1:] == want[1:]
        assert got[0] == pytest.approx(want[0], rel=1e-12)
        m = int(rng.integers(0, depth + 1))
        assert book_crossed(bid_px, n, ask_px, m) == book_crossed.py_func(bid_px, n, ask_px, m)


def test_pricing_match_py_func():
    rng = np.random.default_rng(13)
    for row in rng.uniform(-1e3, 1e3, size=(300, 5)):
        p, fx, uf, tax, prem = (float(v) for v in row)
        assert parity(p, fx, uf, tax, prem) == pytest.approx(
            parity.py_func(p, fx, uf, tax, prem), rel=1e-12
        )
        assert spread(p, fx) == spread.py_func(p, fx)
        assert ratio(p, fx) == pytest.approx(ratio.py_func(p, fx), rel=1e-12)
        assert basis(p, fx, uf, tax, prem) == pytest.approx(
            basis.py_func(p, fx, uf, tax, prem), rel=1e-12, abs=1e-9
        )
    assert np.isnan(ratio(1.0, 0.0)) and np.isnan(ratio.py_func(1.0, 0.0))


def test_zscore_match_py_func():
    rng = np.random.default_rng(14)
    for window in (1, 2, 3, 7):
        xs = rng.normal(50.0, 5.0, size=40)
        xs[5] = np.nan
        buf_j, st_j = np.zeros(window), np.zeros(4)
        buf_p, st_p = np.zeros(window), np.zeros(4)
        zscore_init(buf_j, st_j)
        zscore_init.py_func(buf_p, st_p)
        for x in xs:
            zj = zscore_update(buf_j, st_j, x)
            zp = zscore_update.py_func(buf_p, st_p, x)
            np.testing.assert_allclose(zj, zp, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(st_j, st_p, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(
                zscore_mean_std(buf_j, st_j), zscore_mean_std.py_func(buf_p, st_p), rtol=1e-12
            )
        np.testing.assert_allclose(
            zscore_series(xs, window), zscore_series.py_func(xs, window), rtol=1e-12, atol=1e-12
        )


def test_lots_match_py_func():
    rng = np.random.default_rng(15)
    for _ in range(200):
        base_a, base_b = (float(v) for v in rng.uniform(0.5, 5000.0, size=2))
        max_a, max_b = (int(v) for v in rng.integers(1, 25, size=2))
        got = best_lot_pair(base_a, base_b, max_a, max_b)
        want = best_lot_pair.py_func(base_a, base_b, max_a, max_b)
        assert got[:2] == want[:2]
        assert got[2] == pytest.approx(want[2], rel=1e-12, abs=1e-9)
        filled = int(rng.integers(-50, 51))
        got_h = hedge_lots(filled, base_a, base_b)
        want_h = hedge_lots.py_func(filled, base_a, base_b)
        assert got_h[0] == want_h[0]
        assert got_h[1] == pytest.approx(want_h[1], rel=1e-12, abs=1e-9)
