"""Put the image that escnn's ``R2Conv.check_equivariance`` reads into scipy's data cache.

escnn checks ``R2Conv`` on ``scipy.datasets.face()``, which pooch downloads from GitHub on
first use. Machines that reach only package registries get the same file, byte for byte,
from an older scipy wheel on PyPI, which shipped it as ``scipy/misc/face.dat``; the file is
accepted only if its SHA-256 is the one scipy's own registry lists, so pooch then finds it
in its cache and never downloads.

Usage: ``python tools/escnn_test_image.py`` (``make setup`` runs it).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pooch
from scipy.datasets._registry import registry

NAME = "face.dat"
WHEEL = "scipy==1.9.3"  # the last scipy release whose wheels bundle the image
MEMBER = "scipy/misc/face.dat"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def from_wheel(folder: Path) -> bytes:
    """The image's bytes out of the scipy wheel, downloaded into ``folder``."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--quiet"),
            *("--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11"),
            *("--platform", "manylinux2014_x86_64", "--dest", str(folder)),
        ],
        check=True,
    )
    (wheel,) = folder.glob("scipy-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MEMBER)


def main() -> int:
    target = Path(pooch.os_cache("scipy-data")) / NAME
    expected = registry[NAME]
    if target.is_file() and sha256(target.read_bytes()) == expected:
        return 0
    with tempfile.TemporaryDirectory() as folder:
        data = from_wheel(Path(folder))
    if sha256(data) != expected:
        sys.stderr.write(f"error: {MEMBER} of {WHEEL} is not the file scipy's registry lists\n")
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    sys.stderr.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
