"""Models by the names DESIGN section 6 gives them, as CTFd's ``CHALLENGE_CLASSES`` registry."""

from __future__ import annotations

from attribution.base import AttributionModel
from attribution.exceptions import AttributionError, UnknownModelError
from attribution.last_non_direct import LastNonDirectModel
from attribution.linear import LinearModel
from attribution.markov import MarkovModel
from attribution.positional import (
    CustomModel,
    FirstTouchModel,
    FullPathModel,
    InverseJModel,
    JShapedModel,
    LastTouchModel,
    PositionBasedModel,
    WShapedModel,
)
from attribution.shapley import ShapleyModel
from attribution.time_decay import TimeDecayModel

__all__ = ["MODEL_CLASSES", "AttributionModel", "create_model", "model_names"]

MODEL_CLASSES: dict[str, type[AttributionModel]] = {
    model.name: model
    for model in (
        FirstTouchModel,
        LastTouchModel,
        LastNonDirectModel,
        LinearModel,
        TimeDecayModel,
        PositionBasedModel,
        WShapedModel,
        FullPathModel,
        JShapedModel,
        InverseJModel,
        CustomModel,
        MarkovModel,
        ShapleyModel,
    )
}


def model_names() -> list[str]:
    """Every registered model name, rule-based first, in a stable order."""
    return list(MODEL_CLASSES)


def create_model(name: str, **params: object) -> AttributionModel:
    """Build the model registered as ``name`` with keyword ``params``.

    Raises
    ------
    UnknownModelError
        ``name`` is not registered.
    AttributionError
        A parameter the model does not take, or a bad value for one it does.
    """
    try:
        model_class = MODEL_CLASSES[name]
    except KeyError:
        raise UnknownModelError(name, model_names()) from None
    try:
        return model_class(**params)
    except TypeError as error:
        raise AttributionError(f"{name}: {error}") from None
