"""The HyperCube factorization of a structure tensor.

Three factors ``A``, ``B``, ``C`` of shape ``(n, n, n)`` model the structure tensor

.. math::

    T[a, b, c] = \\frac{1}{n} \\operatorname{tr}(A_a B_b C_c),
    \\qquad \\delta[a, b, c] = [a * b = c],

and the regularizer is

.. math::

    H = \\frac{1}{n} \\Big( \\sum_{a,b} \\|A_a B_b\\|_F^2 + \\sum_{b,c} \\|B_b C_c\\|_F^2
        + \\sum_{c,a} \\|C_c A_a\\|_F^2 \\Big).

At a group solution every slice is orthogonal, ``T = delta`` and ``H = 3 n^2``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class HyperCubeFactors(nn.Module):
    """The three factor cubes of HyperCube, with predictions and regularizer.

    Args:
        n: number of elements (the order of the table).
        init_scale: standard deviation of the entries at initialisation; the
            reference uses ``1 / sqrt(n)`` (variance ``1 / n``), the default.
        generator: optional random generator for the initialisation.
        dtype: floating point type of the factors.
        block_elements: size, in entries, of the blocks of products formed at once.
        kept_elements: largest number of product entries kept for the backward pass.

    Example:
        >>> factors = HyperCubeFactors(3, generator=torch.Generator().manual_seed(0))
        >>> factors.predict(torch.tensor([0, 1]), torch.tensor([2, 2])).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        n: int,
        init_scale: float | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        block_elements: int = 2**24,
        kept_elements: int = 2**25,
    ) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"`n` must be a positive number of elements, got {n}")
        self.n = n
        self.block_elements = block_elements
        self.kept_elements = kept_elements
        scale = n**-0.5 if init_scale is None else init_scale
        cubes = torch.randn(3, n, n, n, generator=generator, dtype=dtype) * scale
        self.A = nn.Parameter(cubes[0].clone())
        self.B = nn.Parameter(cubes[1].clone())
        self.C = nn.Parameter(cubes[2].clone())

    def predict(self, a: Tensor, b: Tensor) -> Tensor:
        """Predicted rows ``T[a, b, :]`` for a batch of pairs, without building the cube.

        The products ``A_a B_b`` are formed block by block over ``a`` as one large matrix
        product per block, ``(k n, n) @ (n, n^2)``, which runs near the machine's matrix
        multiply rate; only the rows of the requested pairs are kept and contracted with
        ``C``. Memory stays at one block plus ``m n^2`` for the kept products; when those
        would exceed ``kept_elements`` under autograd, each block is recomputed in the
        backward pass instead of stored (activation checkpointing), so memory stays at
        one block for about a third more arithmetic.

        Args:
            a: left elements, shape ``(m,)``.
            b: right elements, shape ``(m,)``.

        Returns:
            ``T[a, b, c]`` for every ``c``, shape ``(m, n)``.
        """
        n = self.n
        right = self.B.permute(1, 0, 2).reshape(n, n * n)  # (n, n*n): [k, (b, j)] = B_b[k, j]
        # tr(M C_c) = sum_ij M[i, j] C_c[j, i]: contract with every C_c transposed.
        c_flat = self.C.transpose(1, 2).reshape(n, n * n)  # (n, n*n)
        block = max(1, self.block_elements // (n * n * n))
        if block >= n:
            return self._predict_block(a, b, 0, n, right, c_flat)
        order = torch.argsort(a)
        a_sorted, b_sorted = a[order], b[order]
        bounds = torch.searchsorted(a_sorted, torch.arange(0, n + block, block, device=a.device))
        recompute = torch.is_grad_enabled() and len(a) * n * n > self.kept_elements
        rows = []
        for start, (lo, hi) in enumerate(
            zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
        ):
            if hi == lo:
                continue
            first = start * block
            arguments = (a_sorted[lo:hi], b_sorted[lo:hi], first, min(first + block, n))
            if recompute:
                rows.append(
                    checkpoint(self._predict_block, *arguments, right, c_flat, use_reentrant=False)
                )
            else:
                rows.append(self._predict_block(*arguments, right, c_flat))
        return torch.cat(rows).index_select(0, torch.argsort(order))

    def _predict_block(
        self, a: Tensor, b: Tensor, first: int, stop: int, right: Tensor, c_flat: Tensor
    ) -> Tensor:
        n = self.n
        products = self.A[first:stop].reshape(-1, n) @ right  # (k*n, n*n): [(a, i), (b, j)]
        products = products.view(stop - first, n, n, n)  # (k, n_i, n_b, n_j)
        kept = products[a - first, :, b, :]  # (m, n, n): A_a B_b
        return kept.reshape(-1, n * n) @ c_flat.T / n  # (m, n)

    def full_tensor(self) -> Tensor:
        """The whole cube ``T``, shape ``(n, n, n)``; for evaluation at small ``n``."""
        n = self.n
        a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        return self.predict(a.reshape(-1), b.reshape(-1)).reshape(n, n, n)

    def regularizer_terms(self) -> Tensor:
        """The three sums of ``H`` (pairings ``AB``, ``BC``, ``CA``) over ``n``, shape ``(3,)``.

        Uses ``sum_ab ||A_a B_b||_F^2 = <sum_a A_a^T A_a, sum_b B_b B_b^T>_F``: ``O(n^4)``.
        """
        terms = []
        for left, right in ((self.A, self.B), (self.B, self.C), (self.C, self.A)):
            left_gram = torch.einsum("kij,kil->jl", left, left)  # (n, n): sum_k X_k^T X_k
            right_gram = torch.einsum("kji,kli->jl", right, right)  # (n, n): sum_k Y_k Y_k^T
            terms.append((left_gram * right_gram).sum())
        return torch.stack(terms) / self.n

    def regularizer(self) -> Tensor:
        """``H``, the sum of :meth:`regularizer_terms`."""
        return self.regularizer_terms().sum()

    @staticmethod
    def balance(terms: Tensor) -> Tensor:
        """Relative spread of the three terms of ``H``; 0 at every stationary point of
        ``data + eps H``, whose rescalings ``(xA, yB, C / (xy))`` keep ``T`` but move them.
        """
        return (terms.max() - terms.min()) / terms.mean()
