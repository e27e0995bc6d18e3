"""Errors raised by the attribution engine; callers translate them (the engine knows no HTTP)."""


class AttributionError(ValueError):
    """Bad input to a model: inconsistent arrays, bad weights, unknown parameters."""


class UnknownModelError(AttributionError):
    """A model name that is not in :data:`attribution.registry.MODEL_CLASSES`."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown attribution model {name!r}; known: {', '.join(known)}")
        self.name = name


class NotFittedError(AttributionError):
    """A data-driven model was asked to attribute before ``fit`` learned its parameters."""
