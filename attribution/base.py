"""The interface every attribution model follows (scikit-learn's estimator conventions).

``__init__`` only stores explicit keyword parameters, ``fit`` learns (a no-op for rule-based
models) and returns ``self``, learned state lives in attributes with a trailing underscore,
and ``attribute`` turns journeys into per-touch :class:`~attribution.credits.Credits`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import ClassVar, Self

from attribution.credits import Credits
from attribution.journeys import Journey, JourneyBatch, as_batch

JourneysLike = JourneyBatch | Journey | Iterable[Journey]


class AttributionModel(abc.ABC):
    """Base class: subclasses set ``name`` and implement :meth:`_attribute`."""

    name: ClassVar[str]
    data_driven: ClassVar[bool] = False

    def fit(self, journeys: JourneysLike) -> Self:
        """Learn from converting and non-converting journeys; rule-based models learn nothing."""
        del journeys
        return self

    def attribute(self, journeys: JourneysLike) -> Credits:
        """Per-touch credit for every converting journey (non-converting rows get zeros)."""
        return self._attribute(as_batch(journeys))

    def fit_attribute(self, journeys: JourneysLike) -> Credits:
        """``fit`` then ``attribute`` on the same journeys, packing them once."""
        batch = as_batch(journeys)
        return self.fit(batch).attribute(batch)

    def get_params(self) -> dict[str, object]:
        """The keyword parameters this model was built with (stored verbatim by ``__init__``)."""
        return {key: value for key, value in vars(self).items() if not key.endswith("_")}

    @abc.abstractmethod
    def _attribute(self, batch: JourneyBatch) -> Credits: ...

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
