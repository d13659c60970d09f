"""The HyperCube factors against slow references."""

from __future__ import annotations

import pytest
import torch

from hc_lightning.model import EpsSchedule, HyperCubeFactors


def slow_rows(factors: HyperCubeFactors, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n = factors.n
    rows = torch.empty(len(a), n, dtype=factors.A.dtype)
    for m, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        for c in range(n):
            rows[m, c] = torch.trace(factors.A[x] @ factors.B[y] @ factors.C[c]) / n
    return rows


def slow_regularizer(factors: HyperCubeFactors) -> torch.Tensor:
    total = 0.0
    for X, Y in ((factors.A, factors.B), (factors.B, factors.C), (factors.C, factors.A)):
        for i in range(factors.n):
            for j in range(factors.n):
                total += (X[i] @ Y[j]).square().sum()
    return total / factors.n


@pytest.mark.parametrize("chunk_elements", [2**21, 64, 1])
def test_predict_matches_trace_formula(chunk_elements: int) -> None:
    generator = torch.Generator().manual_seed(0)
    factors = HyperCubeFactors(5, generator=generator, dtype=torch.float64)
    factors.chunk_elements = chunk_elements
    a = torch.randint(0, 5, (40,), generator=generator)
    b = torch.randint(0, 5, (40,), generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(
            factors.predict(a, b), slow_rows(factors, a, b), rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("chunk_elements", [2**21, 48, 1])
def test_gradients_match_autograd_of_the_trace_formula(chunk_elements: int) -> None:
    generator = torch.Generator().manual_seed(1)
    factors = HyperCubeFactors(4, generator=generator, dtype=torch.float64)
    factors.chunk_elements = chunk_elements  # 3 pairs per chunk at 48: a ragged last chunk
    a = torch.randint(0, 4, (13,), generator=generator)  # with repeated pairs
    b = torch.randint(0, 4, (13,), generator=generator)
    weights = torch.randn(13, 4, generator=generator, dtype=torch.float64)
    grads = []
    for rows in (factors.predict, lambda x, y: slow_rows(factors, x, y)):
        factors.zero_grad()
        (rows(a, b) * weights).square().sum().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in factors.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-12)


def test_regularizer_matches_pairwise_sum() -> None:
    factors = HyperCubeFactors(4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(
            factors.regularizer(), slow_regularizer(factors), rtol=1e-12, atol=0
        )


def test_group_solution_has_unit_health() -> None:
    # Left-regular permutation matrices of Z5: A = B = rho, C = rho^-1 gives T = delta.
    n = 5
    eye = torch.eye(n, dtype=torch.float64)
    rho = torch.stack([eye.roll(g, dims=0) for g in range(n)])
    factors = HyperCubeFactors(n, dtype=torch.float64)
    with torch.no_grad():
        factors.A.copy_(rho)
        factors.B.copy_(rho)
        factors.C.copy_(rho.transpose(1, 2))
        expected = torch.zeros(n, n, n, dtype=torch.float64)
        for a in range(n):
            for b in range(n):
                expected[a, b, (a + b) % n] = 1
        torch.testing.assert_close(factors.full_tensor(), expected, rtol=0, atol=1e-12)
        assert factors.regularizer().item() == pytest.approx(3 * n**2, rel=1e-12)
        assert factors.balance(factors.regularizer_terms()).item() == pytest.approx(0, abs=1e-12)


def test_schedule_phases() -> None:
    schedule = EpsSchedule(0.1, window=2, stop_loss=1e-3)
    events = []
    for objective, data in [(3.0, 1.0), (2.0, 1.0), (2.0, 1.0), (2.0, 1.0), (1.0, 0.5)]:
        schedule.observe(objective, data, balance=0.0)
        events.append(schedule.step())
    assert events[3] == "completed" and schedule.eps == 0.1
    for _ in range(3):
        schedule.observe(1.0, 0.5, balance=0.0)
        events.append(schedule.step())
    assert "eps_off" in events and schedule.eps == 0.0
    schedule.observe(1e-4, 1e-4, balance=0.0)
    assert schedule.step() == "done"
    restored = EpsSchedule(0.1, window=2)
    restored.load_state_dict(schedule.state_dict())
    assert restored.state_dict() == schedule.state_dict()


def test_unbalanced_factors_do_not_switch() -> None:
    schedule = EpsSchedule(0.1, window=1)
    for _ in range(5):
        schedule.observe(1.0, 1.0, balance=0.5)
        assert schedule.step() is None


@pytest.mark.parametrize("shuffled", [False, True])
def test_every_pair_at_once_matches_the_trace_formula(shuffled: bool) -> None:
    generator = torch.Generator().manual_seed(4)
    n = 4
    factors = HyperCubeFactors(n, generator=generator, dtype=torch.float64)
    cells = torch.randperm(n * n, generator=generator) if shuffled else torch.arange(n * n)
    a, b = cells // n, cells % n
    weights = torch.randn(n * n, n, generator=generator, dtype=torch.float64)
    grads, rows = [], []
    for predict in (factors.predict, lambda x, y: slow_rows(factors, x, y)):
        factors.zero_grad()
        rows.append(predict(a, b))
        (rows[-1] * weights).square().sum().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in factors.parameters()]))
    torch.testing.assert_close(rows[0], rows[1], rtol=0, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-12)
