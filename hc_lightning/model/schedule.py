"""The three-phase schedule of the regularizer weight: fit, settle, polish."""

from __future__ import annotations

from collections import deque
from typing import Literal

from torch import Tensor

Event = Literal["completed", "eps_off", "done"] | None
Phase = Literal["fit", "settle", "polish"]


class EpsSchedule:
    """When to move from one training phase to the next, and when to stop.

    * **fit**: ``data + eps H`` on the known cells, until the objective has settled (its
      relative change over ``window`` steps at most ``plateau_tolerance``) with balanced
      factors (relative spread of the three terms of ``H`` below ``balance_tolerance``).
      Ends with the event ``"completed"``: the model's completion becomes the target of
      every cell that was not given. The model may end it earlier with
      :meth:`request_completion`.
    * **settle**: ``data + eps H`` on the completed table, until it settles to
      ``settle_tolerance``. Ends with ``"eps_off"``.
    * **polish**: the data term alone, until it is below ``stop_loss``: ``"done"``.

    With ``eps = 0`` from the start there is only the polish phase, on the known cells.
    ``tolerance_floor`` (set by the model from its float precision) bounds both plateau
    tolerances from below, so that rounding noise cannot keep a phase from ending.

    Example:
        >>> schedule = EpsSchedule(0.1, window=2, stop_loss=1e-7)
        >>> for objective in (3.0, 2.0, 2.0, 2.0):
        ...     schedule.observe(objective, data=1.0, balance=0.0)
        ...     event = schedule.step()
        >>> event, schedule.phase
        ('completed', 'settle')
    """

    def __init__(
        self,
        eps: float,
        plateau_tolerance: float = 1e-5,
        settle_tolerance: float = 1e-10,
        window: int = 10,
        balance_tolerance: float = 1e-3,
        stop_loss: float = 1e-7,
    ) -> None:
        if window < 1:
            raise ValueError(f"`window` must be at least 1, got {window}")
        if eps < 0:
            raise ValueError(f"`eps` must be >= 0, got {eps}")
        self.eps = float(eps)
        self.plateau_tolerance = plateau_tolerance
        self.settle_tolerance = settle_tolerance
        self.window = window
        self.balance_tolerance = balance_tolerance
        self.stop_loss = stop_loss
        self.steps = 0
        self.completed_step: int | None = None if eps > 0 else 0
        self.eps_off_step: int | None = None if eps > 0 else 0
        self.done_step: int | None = None
        self._history: deque[float] = deque(maxlen=window + 1)
        self._completion_requested = False
        self.tolerance_floor = 0.0
        self._data = float("inf")
        self._balance = float("inf")

    @property
    def phase(self) -> Phase:
        """The current phase."""
        if self.completed_step is None:
            return "fit"
        return "settle" if self.eps_off_step is None else "polish"

    @property
    def on_completed_table(self) -> bool:
        """Whether training runs on the completed table (settle and polish)."""
        return self.completed_step is not None and self.completed_step > 0

    @property
    def last_data(self) -> float:
        """The data term of the latest step."""
        return self._data

    def observe(self, objective: float | Tensor, data: float | Tensor, balance: float | Tensor):
        """Record the objective, data term and balance of ``H``'s terms for the last step."""
        self._history.append(float(objective))
        self._data = float(data)
        self._balance = float(balance)

    def step(self) -> Event:
        """Advance by one step; returns the event that happened, if any."""
        self.steps += 1
        phase = self.phase
        fitted = self._completion_requested or self._settled(self.plateau_tolerance)
        if phase == "fit" and fitted:
            self.completed_step = self.steps
            self._history.clear()
            return "completed"
        if phase == "settle" and self._settled(self.settle_tolerance):
            self.eps_off_step = self.steps
            self.eps = 0.0
            return "eps_off"
        if phase == "polish" and self.done_step is None and self._data < self.stop_loss:
            self.done_step = self.steps
            return "done"
        return None

    def finish(self) -> None:
        """End the run now (the model found what it was asked to): mark it done."""
        self.done_step = self.steps

    def request_completion(self) -> None:
        """End the fit phase at the next :meth:`step` (the model's completion is stable)."""
        self._completion_requested = True

    def _settled(self, tolerance: float) -> bool:
        if len(self._history) <= self.window:
            return False
        change = abs(self._history[0] - self._history[-1])
        tolerance = max(tolerance, self.tolerance_floor)
        return (
            change <= tolerance * abs(self._history[-1]) and self._balance < self.balance_tolerance
        )

    def state_dict(self) -> dict:
        """Everything needed to resume the schedule exactly."""
        return {
            "eps": self.eps,
            "steps": self.steps,
            "completed_step": self.completed_step,
            "eps_off_step": self.eps_off_step,
            "done_step": self.done_step,
            "history": list(self._history),
            "completion_requested": self._completion_requested,
            "data": self._data,
            "balance": self._balance,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`."""
        self.eps = state["eps"]
        self.steps = state["steps"]
        self.completed_step = state["completed_step"]
        self.eps_off_step = state["eps_off_step"]
        self.done_step = state["done_step"]
        self._history = deque(state["history"], maxlen=self.window + 1)
        self._completion_requested = state["completion_requested"]
        self._data = state["data"]
        self._balance = state["balance"]
