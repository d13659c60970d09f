"""When to switch the regularizer off and when to stop."""

from __future__ import annotations

from collections import deque
from typing import Literal

from torch import Tensor

Event = Literal["eps_off", "done"] | None


class EpsSchedule:
    """The two-phase schedule of the regularizer weight ``eps``.

    Phase one trains ``data + eps * H``. It ends when the objective has settled, its
    relative change over ``window`` steps below ``plateau_tolerance``, and the three factors
    are balanced (relative spread of their squared norms below ``balance_tolerance``).
    Phase two trains the data term alone and ends, with the run, as soon as the data term
    is below ``stop_loss``. With ``eps = 0`` from the start there is only phase two.

    Example:
        >>> schedule = EpsSchedule(0.1, window=2, stop_loss=1e-7)
        >>> for objective in (3.0, 2.0, 2.0, 2.0):
        ...     schedule.observe(objective, data=1.0, balance=0.0)
        ...     event = schedule.step()
        >>> event, schedule.eps
        ('eps_off', 0.0)
    """

    def __init__(
        self,
        eps: float,
        plateau_tolerance: float = 1e-5,
        window: int = 10,
        balance_tolerance: float = 1e-3,
        stop_loss: float = 1e-7,
        decay: float = 0.0,
        floor: float = 1e-4,
    ) -> None:
        if window < 1:
            raise ValueError(f"`window` must be at least 1, got {window}")
        self.initial_eps = float(eps)
        self.eps = float(eps)
        self.plateau_tolerance = plateau_tolerance
        self.window = window
        self.balance_tolerance = balance_tolerance
        self.stop_loss = stop_loss
        self.decay = decay
        self.floor = floor
        self.steps = 0
        self.eps_off_step: int | None = None if eps > 0 else 0
        self.done_step: int | None = None
        self.completed_step: int | None = None if eps > 0 else 0
        self._history: deque[float] = deque(maxlen=window + 1)
        self._data = float("inf")
        self._balance = float("inf")

    @property
    def on_completed_table(self) -> bool:
        """Whether training runs on the completed table (phases two and three)."""
        return self.completed_step is not None

    @property
    def last_data(self) -> float:
        """The data term of the latest step."""
        return self._data

    def observe(self, objective: float | Tensor, data: float | Tensor, balance: float | Tensor):
        """Record the objective, data term and factor balance of the step just taken."""
        self._history.append(float(objective))
        self._data = float(data)
        self._balance = float(balance)

    def step(self) -> Event:
        """Advance by one step; returns ``"eps_off"`` or ``"done"`` when that happens."""
        self.steps += 1
        if self.eps > 0:
            if self._settled():
                self._history.clear()
                if self.completed_step is None:
                    self.completed_step = self.steps
                    return "completed"
                self.eps *= self.decay
                if self.eps >= self.floor:
                    return "eps_down"
                self.eps = 0.0
                self.eps_off_step = self.steps
                return "eps_off"
            return None
        if self.done_step is None and self._data < self.stop_loss:
            self.done_step = self.steps
            return "done"
        return None

    def _settled(self) -> bool:
        if len(self._history) <= self.window:
            return False
        change = abs(self._history[0] - self._history[-1])
        return (
            change <= self.plateau_tolerance * abs(self._history[-1])
            and self._balance < self.balance_tolerance
        )

    def state_dict(self) -> dict:
        """Everything needed to resume the schedule exactly."""
        return {
            "eps": self.eps,
            "steps": self.steps,
            "eps_off_step": self.eps_off_step,
            "done_step": self.done_step,
            "completed_step": self.completed_step,
            "history": list(self._history),
            "data": self._data,
            "balance": self._balance,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`."""
        self.eps = state["eps"]
        self.steps = state["steps"]
        self.eps_off_step = state["eps_off_step"]
        self.done_step = state["done_step"]
        self.completed_step = state["completed_step"]
        self._history = deque(state["history"], maxlen=self.window + 1)
        self._data = state["data"]
        self._balance = state["balance"]
