"""Forward and backward time of our grid group convolution against escnn's ``R2Conv``.

Both layers map D4 regular features to D4 regular features (``channels`` fields of size 8)
with the same kernel size on the same input; the table of medians goes to
``docs/gconv_benchmark.md``. Run: ``python benchmarks/gconv_vs_escnn.py``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch

from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.nn.lifting import GroupConv2d, SpatialAction, d4_action


def ours(channels: int, kernel_size: int) -> torch.nn.Module:
    table, labels, transforms = d4_action()
    group = FiniteGroup(table, labels)
    return GroupConv2d(group, SpatialAction(group, transforms), channels, channels, kernel_size)


def escnn_layer(channels: int, kernel_size: int) -> torch.nn.Module:
    from escnn import gspaces
    from escnn import nn as enn

    space = gspaces.flipRot2dOnR2(4)
    fields = enn.FieldType(space, channels * [space.regular_repr])
    conv = enn.R2Conv(fields, fields, kernel_size, padding=kernel_size // 2)

    def run(x: torch.Tensor) -> torch.Tensor:
        return conv(enn.GeometricTensor(x, fields)).tensor

    module = torch.nn.Module()
    module.conv = conv
    module.forward = run
    return module


def timed(step, repeats: int) -> float:
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(layer: torch.nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    layer.train()

    def forward() -> None:
        with torch.no_grad():
            layer(x)

    def forward_backward() -> None:
        layer.zero_grad()
        layer(x).square().sum().backward()

    return timed(forward, repeats), timed(forward_backward, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--kernel-size", type=int, default=5)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--output", type=Path, default=Path("docs/gconv_benchmark.md"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    layer = ours(args.channels, args.kernel_size)
    x_ours = torch.randn(args.batch, args.channels, 8, args.size, args.size)
    # escnn stores a regular field's 8 entries next to each other: the same numbers.
    x_escnn = x_ours.reshape(args.batch, args.channels * 8, args.size, args.size)
    rows = [
        ("hc_lightning GroupConv2d", *measure(layer, x_ours, args.repeats)),
        (
            "escnn R2Conv",
            *measure(escnn_layer(args.channels, args.kernel_size), x_escnn, args.repeats),
        ),
    ]
    lines = [
        "# Grid group convolution against escnn",
        "",
        f"Command: `python benchmarks/gconv_vs_escnn.py` (D4 regular features, {args.channels}"
        f" fields in and out, {args.kernel_size}x{args.kernel_size} kernels, batch {args.batch},"
        f" {args.size}x{args.size} images, float32, median of {args.repeats}); machine:"
        f" {platform.processor() or platform.machine()}, torch {torch.__version__},"
        f" {torch.get_num_threads()} threads.",
        "",
        "| layer | forward (ms) | forward + backward (ms) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {f * 1e3:.2f} | {fb * 1e3:.2f} |" for name, f, fb in rows]
    ratio_f, ratio_fb = rows[1][1] / rows[0][1], rows[1][2] / rows[0][2]
    lines += [
        "",
        f"escnn / ours: {ratio_f:.2f}x forward, {ratio_fb:.2f}x forward + backward. Both expand"
        " the kernel on every call in training mode; ours with one gather from the table.",
        "",
    ]
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
