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


class _PairRows(torch.autograd.Function):
    """``T[a, b, :]`` for a batch of pairs, formed chunk by chunk of pairs.

    Each chunk takes the products ``A_a B_b`` as one batched matrix product and contracts
    them with every ``C_c`` in one matrix product. The backward pass recomputes a chunk's
    products rather than keeping them, so memory stays at one chunk whatever the batch.
    """

    @staticmethod
    def forward(ctx, A: Tensor, B: Tensor, c_flat: Tensor, a: Tensor, b: Tensor, chunk: int):
        n = A.shape[1]
        rows = A.new_empty(len(a), n)  # (m, n)
        for start in range(0, len(a), chunk):
            pairs = slice(start, start + chunk)
            products = torch.bmm(A[a[pairs]], B[b[pairs]])  # (k, n, n): A_a B_b
            torch.mm(products.view(-1, n * n), c_flat.T, out=rows[pairs])
        ctx.save_for_backward(A, B, c_flat, a, b)
        ctx.chunk = chunk
        return rows.div_(n)

    @staticmethod
    def backward(ctx, grad_rows: Tensor):
        A, B, c_flat, a, b = ctx.saved_tensors
        n = A.shape[1]
        grad_A, grad_B, grad_c = torch.zeros_like(A), torch.zeros_like(B), torch.zeros_like(c_flat)
        grad_rows = grad_rows / n
        for start in range(0, len(a), ctx.chunk):
            pairs = slice(start, start + ctx.chunk)
            left, right = A[a[pairs]], B[b[pairs]]  # (k, n, n) each: A_a, B_b
            products = torch.bmm(left, right).view(-1, n * n)  # (k, n*n): A_a B_b
            grad_c += grad_rows[pairs].T @ products  # (n, n*n)
            grad_products = (grad_rows[pairs] @ c_flat).view(-1, n, n)  # (k, n, n)
            # Scatter the (k, n, n) gradients of A_a and B_b back onto the slices a and b.
            grad_A.index_add_(0, a[pairs], torch.bmm(grad_products, right.transpose(1, 2)))
            grad_B.index_add_(0, b[pairs], torch.bmm(left.transpose(1, 2), grad_products))
        return grad_A, grad_B, grad_c, None, None, None


class HyperCubeFactors(nn.Module):
    """The three factor cubes of HyperCube, with predictions and regularizer.

    Args:
        n: number of elements (the order of the table).
        init_scale: standard deviation of the entries at initialisation; the
            reference uses ``1 / sqrt(n)`` (variance ``1 / n``), the default.
        generator: optional random generator for the initialisation.
        dtype: floating point type of the factors.
        chunk_elements: size, in entries, of the products ``A_a B_b`` formed at once
            (``chunk_elements / n^2`` pairs); the default suits the caches of a CPU.

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
        chunk_elements: int = 2**21,
    ) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"`n` must be a positive number of elements, got {n}")
        if chunk_elements < 1:
            raise ValueError(f"`chunk_elements` must be positive, got {chunk_elements}")
        self.n = n
        self.chunk_elements = chunk_elements
        scale = n**-0.5 if init_scale is None else init_scale
        cubes = torch.randn(3, n, n, n, generator=generator, dtype=dtype) * scale
        self.A = nn.Parameter(cubes[0].clone())
        self.B = nn.Parameter(cubes[1].clone())
        self.C = nn.Parameter(cubes[2].clone())

    def predict(self, a: Tensor, b: Tensor) -> Tensor:
        """Predicted rows ``T[a, b, :]`` for a batch of pairs, without building the cube.

        Only the requested products ``A_a B_b`` are formed: ``2 m n^3`` FLOPs for ``m``
        pairs, then ``2 m n^3`` for the contraction with every ``C_c``, both as large
        (batched) matrix products; every pair of the table at once is one matrix product.
        Pairs are processed ``chunk_elements / n^2`` at a time and the backward pass
        recomputes each chunk's products instead of storing them, so memory stays at one
        chunk (activation recomputation: ``14 m n^3`` FLOPs for forward and backward
        instead of ``12 m n^3``); a batch of one chunk keeps its products.

        Args:
            a: left elements, shape ``(m,)``.
            b: right elements, shape ``(m,)``.

        Returns:
            ``T[a, b, c]`` for every ``c``, shape ``(m, n)``.
        """
        n = self.n
        a, b = a.to(self.A.device), b.to(self.A.device)
        # tr(M C_c) = sum_ij M[i, j] C_c[j, i]: contract with every C_c transposed.
        c_flat = self.C.transpose(1, 2).reshape(n, n * n)  # (n, n*n)
        chunk = max(1, self.chunk_elements // (n * n))
        if len(a) > chunk:
            return _PairRows.apply(self.A, self.B, c_flat, a, b, chunk)
        if len(a) == n * n:
            # Every pair of a small table: one matrix product beats a batch of small ones.
            right = self.B.permute(1, 0, 2).reshape(n, n * n)  # (n, n*n): [j, (b, l)]
            products = (self.A.reshape(n * n, n) @ right).view(n, n, n, n)  # (a, i, b, l)
            products = products.transpose(1, 2).reshape(n * n, n * n)  # ((a, b), (i, l))
            cells = a * n + b
            if not torch.equal(cells, torch.arange(n * n, device=cells.device)):
                products = products.index_select(0, cells)  # backward: an index_add
        else:
            # One chunk: autograd keeps the products.
            products = torch.bmm(self.A.index_select(0, a), self.B.index_select(0, b))
            products = products.view(-1, n * n)
        return products @ c_flat.T / n

    def full_tensor(self) -> Tensor:
        """The whole cube ``T``, shape ``(n, n, n)``; for evaluation at small ``n``."""
        n = self.n
        cells = torch.arange(n, device=self.A.device)
        a, b = torch.meshgrid(cells, cells, indexing="ij")
        return self.predict(a.reshape(-1), b.reshape(-1)).reshape(n, n, n)

    def regularizer_terms(self) -> Tensor:
        """The three sums of ``H`` (pairings ``AB``, ``BC``, ``CA``) over ``n``, shape ``(3,)``.

        Uses ``sum_ab ||A_a B_b||_F^2 = <sum_a A_a^T A_a, sum_b B_b B_b^T>_F``: ``O(n^4)``.
        """
        n = self.n
        cubes = torch.stack([self.A, self.B, self.C])  # (3, k, i, j)
        rows = cubes.reshape(3, n * n, n)  # (3, (k, i), j)
        left = rows.transpose(1, 2) @ rows  # (3, n, n): sum_k X_k^T X_k for A, B, C
        columns = cubes.transpose(1, 2).reshape(3, n, n * n)  # (3, i, (k, j))
        right = columns @ columns.transpose(1, 2)  # (3, n, n): sum_k X_k X_k^T
        # Pairings AB, BC, CA: the left Gram of the first with the right Gram of the second.
        return (left * right.roll(-1, dims=0)).sum(dim=(1, 2)) / n

    def regularizer(self) -> Tensor:
        """``H``, the sum of :meth:`regularizer_terms`."""
        return self.regularizer_terms().sum()

    @staticmethod
    def balance(terms: Tensor) -> Tensor:
        """Relative spread of the three terms of ``H``; 0 at every stationary point of
        ``data + eps H``, whose rescalings ``(xA, yB, C / (xy))`` keep ``T`` but move them.
        """
        return (terms.max() - terms.min()) / terms.mean()
