"""Algebra on Cayley tables and representations, independent of training.

Tables are ``(n, n)`` integer arrays with ``table[a, b] = a * b``; factors are
``(n, n, n)`` arrays. Nothing here imports torch or Lightning.
"""

from hc_lightning.algebra.group import AxiomReport, FiniteGroup, NotAGroupError, check_axioms
from hc_lightning.algebra.identify import Identification, identify
from hc_lightning.algebra.latin import IsotopeResult, isotope_to_group, principal_loop

__all__ = [
    "AxiomReport",
    "FiniteGroup",
    "Identification",
    "IsotopeResult",
    "NotAGroupError",
    "check_axioms",
    "identify",
    "isotope_to_group",
    "principal_loop",
]
