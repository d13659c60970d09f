"""Run every study with its defaults, one after the other, into the same document.

Run: ``python -m experiments.run_all [--doc docs/experiments.md] [--figures DIR]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from experiments import common, fraction, isotopes, latin_survey, regularizers

STUDIES = {
    "regularizers": regularizers.main,
    "fraction": fraction.main,
    "isotopes": isotopes.main,
    "latin_survey": latin_survey.main,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chosen studies (all by default) with their default sizes."""
    parser = argparse.ArgumentParser(prog="python -m experiments.run_all", description=__doc__)
    parser.add_argument("--studies", nargs="+", choices=list(STUDIES), default=list(STUDIES))
    common.add_output_arguments(parser)
    args = parser.parse_args(argv)
    outputs = ["--doc", str(args.doc), "--figures", str(args.figures)]
    for name in args.studies:
        start = time.perf_counter()
        STUDIES[name](outputs)
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
