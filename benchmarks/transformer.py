"""The grokking baseline: a small decoder-only transformer on the same splits as ours.

The model reads the three tokens ``a b =`` and predicts ``c = a * b`` from the output at
``=``: token and learned position embeddings, 2 pre-norm blocks of causal self-attention
(4 heads, width 128) and a 4x-wide GELU MLP, a final LayerNorm and a linear read-out over
the ``n`` elements. Trained as in the grokking paper (Power et al., 2022): AdamW, lr
``1e-3``, betas ``(0.9, 0.98)``, weight decay 1.0, a linear warm-up over the first 10
steps, cross-entropy; batch ``min(512, training cells)``, which is the full batch for
every table here. The known cells are those of ``CayleyDataModule`` with the same seed,
so the transformer sees exactly what HyperCube sees.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from common import Section, fmt, markdown_table, progress
from torch import Tensor, nn

from hc_lightning.data.catalog import load
from hc_lightning.data.datamodule import CayleyDataModule

WIDTH, DEPTH, HEADS = 128, 2, 4


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then an MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.projection = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: Tensor) -> Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).split(width, dim=2)
        q, k, v = (
            t.view(batch, length, self.heads, width // self.heads).transpose(1, 2)  # (B, h, T, w/h)
            for t in (q, k, v)
        )
        mixed = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.projection(mixed.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp(self.mlp_norm(x))


class GrokkingTransformer(nn.Module):
    """Decoder-only transformer mapping ``(a, b, =)`` to logits over the ``n`` products.

    Args:
        n: number of elements; token ``n`` is ``=``.
        width: model width.
        depth: number of blocks.
        heads: attention heads per block.
    """

    def __init__(self, n: int, width: int = WIDTH, depth: int = DEPTH, heads: int = HEADS):
        super().__init__()
        self.n = n
        self.embedding = nn.Embedding(n + 1, width)
        self.position = nn.Parameter(torch.randn(3, width) * 0.02)
        self.blocks = nn.Sequential(*(Block(width, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.readout = nn.Linear(width, n)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Logits of ``a * b``, shape ``(m, n)``."""
        equals = torch.full_like(a, self.n)
        tokens = torch.stack([a, b, equals], dim=1)  # (m, 3)
        hidden = self.blocks(self.embedding(tokens) + self.position)  # (m, 3, width)
        return self.readout(self.norm(hidden[:, -1]))  # (m, n)


def split_cells(name: str, fraction: float, seed: int) -> tuple[tuple[Tensor, ...], ...]:
    """Training and held-out cells ``(a, b, c)`` of the data module with this seed."""
    datamodule = CayleyDataModule.from_table(load(name), train_fraction=fraction, split_seed=seed)
    datamodule.setup("fit")
    return datamodule.train_cells, datamodule.heldout_cells


def train(
    name: str, fraction: float, seed: int, max_steps: int, eval_every: int = 10
) -> dict[str, Any]:
    """Train until held-out accuracy is 100 % (checked every ``eval_every`` steps) or
    ``max_steps``; the seconds exclude the evaluations."""
    (a, b, c), (ha, hb, hc) = split_cells(name, fraction, seed)
    torch.manual_seed(seed)
    model = GrokkingTransformer(load(name).n)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 10))
    batch = min(512, len(c))
    generator = torch.Generator().manual_seed(seed)
    seconds, reached, accuracy, best, step = 0.0, None, 0.0, 0.0, 0
    while step < max_steps:
        start = time.perf_counter()
        chosen = torch.randperm(len(c), generator=generator)[:batch]
        loss = F.cross_entropy(model(a[chosen], b[chosen]), c[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        warmup.step()
        step += 1
        seconds += time.perf_counter() - start
        if step % eval_every == 0 or step == max_steps:
            with torch.no_grad():
                accuracy = float((model(ha, hb).argmax(dim=1) == hc).float().mean())
            best = max(best, accuracy)
            if accuracy == 1.0:
                reached = step
                break
    with torch.no_grad():
        train_accuracy = float((model(a, b).argmax(dim=1) == c).float().mean())
    return {
        "seed": seed,
        "steps_to_100": reached,
        "steps_run": step,
        "seconds": seconds,
        "heldout_accuracy": accuracy,
        "best_heldout_accuracy": best,
        "train_accuracy": train_accuracy,
        "train_loss": float(loss.detach()),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def section_transformer(
    tasks: tuple[tuple[str, float], ...], seeds: tuple[int, ...], max_steps: int
) -> Section:
    """Steps and seconds of the transformer to 100 % held-out, per task and seed."""
    results: dict[str, list[dict[str, Any]]] = {}
    rows = []
    for name, fraction in tasks:
        label = f"{name} ({fraction:.0%})"
        results[label] = []
        for seed in seeds:
            run = train(name, fraction, seed, max_steps)
            results[label].append(run)
            progress(f"transformer {label} seed {seed}: {run}")
            reached = run["steps_to_100"]
            rows.append(
                [
                    label,
                    seed,
                    reached if reached else f"not reached in {run['steps_run']}",
                    f"{run['seconds']:.1f}",
                    f"{1e3 * run['seconds'] / run['steps_run']:.2f}",
                    fmt(run["heldout_accuracy"], 4),
                    fmt(run["best_heldout_accuracy"], 4),
                    fmt(run["train_accuracy"], 4),
                    f"{run['train_loss']:.2g}",
                ]
            )
    parameters = next(iter(results.values()))[0]["parameters"] if results else 0
    header = (
        "task (known)",
        "seed",
        "steps to 100 % held-out",
        "training seconds",
        "ms/step",
        "final held-out acc.",
        "best held-out acc.",
        "final train acc.",
        "final train loss",
    )
    markdown = "\n\n".join(
        [
            f"{DEPTH} layers, {HEADS} heads, width {WIDTH} ({parameters:,} parameters for "
            f"the first task); AdamW lr 1e-3, betas (0.9, 0.98), weight decay 1.0, full "
            f"batch; step budget {max_steps}. Held-out accuracy is checked every 10 steps, "
            "so the step counts are rounded up to a multiple of 10; the seconds exclude "
            "those checks. Same known cells as HyperCube for the same seed. A run that "
            "does not reach 100 % within the budget gives only a lower bound on the steps "
            "and seconds it needs; grokking at 50 % known typically takes 1e4 or more "
            "steps, so raise `--transformer-steps` where hours are available.",
            markdown_table(header, rows),
        ]
    )
    return Section("transformer", "Transformer baseline (grokking)", markdown, results)
