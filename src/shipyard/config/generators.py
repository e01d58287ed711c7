"""jobs.yaml task factories that generate their values: ``random`` and ``custom``.

``random`` draws ``generate`` values with Python's ``random`` functions, as Batch Shipyard
does (its ``task_factory.py``): ``integer`` is ``randrange(start, stop, step)``, each
``distribution`` names one of ``random``'s real-valued functions and its parameters by
their Batch Shipyard keys (``exponential.lambda`` is ``expovariate``'s ``lambd``). Parameters
those functions cannot take (a zero ``lambda``, a negative ``gamma.alpha``, an empty
``integer`` range) are refused here, naming the key, instead of failing at submission.

``custom`` names a user module whose ``generate(*input_args, **input_kwargs)`` yields the
argument tuples. Its module is imported from the directory jobs.yaml was read from, then
from Python's path (``factory.generated``); that directory is recorded here, from the
loader's validation context, as a private attribute no YAML key can set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from shipyard.config.base import Model, problem, unknown_key

#: The validation context key under which the loader passes jobs.yaml's directory.
CONTEXT_DIRECTORY = "directory"


def exactly_one(model: Model, keys: tuple[str, ...]) -> None:
    """Refuse ``model`` unless exactly one of ``keys`` is set (not ``None`` or empty)."""
    chosen = [key for key in keys if getattr(model, key) not in (None, ())]
    if len(chosen) != 1:
        got = ", ".join(chosen) if chosen else "none"
        raise problem(f"set exactly one of {', '.join(keys)} (got {got})")


class RandomInteger(Model):
    """``integer``: ``randrange(start, stop, step)``, so ``stop`` itself is never drawn."""

    start: int
    stop: int
    step: int = 1

    @model_validator(mode="after")
    def _not_empty(self) -> RandomInteger:
        if self.step == 0:
            raise problem("must not be 0", "step")
        if not range(self.start, self.stop, self.step):
            raise problem(f"range({self.start}, {self.stop}, {self.step}) is empty: "
                          "no integer to draw", "stop")
        return self


class Uniform(Model):
    a: float
    b: float


class Triangular(Model):
    low: float
    high: float
    mode: float | None = None


Positive = Field(gt=0)


class Beta(Model):
    alpha: float = Positive
    beta: float = Positive


class Gamma(Model):
    alpha: float = Positive
    beta: float = Positive


class Exponential(Model):
    """``exponential.lambda``: ``lambda`` is a Python keyword, so the field is ``lambd``."""

    lambd: float = Field(validation_alias="lambda")

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:  # replaces Model's: the key is the alias
        if isinstance(data, dict):
            for key in data:
                if key != "lambda":
                    raise problem(unknown_key(str(key), ["lambda"]), str(key))
        return data

    @model_validator(mode="after")
    def _nonzero(self) -> Exponential:
        if self.lambd == 0:
            raise problem("must not be 0 (the mean is 1/lambda)", "lambda")
        return self


class Gauss(Model):
    mu: float
    sigma: float


class Lognormal(Model):
    mu: float
    sigma: float = Field(ge=0)


class Pareto(Model):
    alpha: float

    @model_validator(mode="after")
    def _nonzero(self) -> Pareto:
        if self.alpha == 0:
            raise problem("must not be 0", "alpha")
        return self


class Weibull(Model):
    alpha: float
    beta: float

    @model_validator(mode="after")
    def _nonzero(self) -> Weibull:
        if self.beta == 0:
            raise problem("must not be 0", "beta")
        return self


DISTRIBUTIONS = ("uniform", "triangular", "beta", "exponential", "gamma", "gauss",
                 "lognormal", "pareto", "weibull")


class Distribution(Model):
    """``distribution``: exactly one named distribution with its parameters."""

    uniform: Uniform | None = None
    triangular: Triangular | None = None
    beta: Beta | None = None
    exponential: Exponential | None = None
    gamma: Gamma | None = None
    gauss: Gauss | None = None
    lognormal: Lognormal | None = None
    pareto: Pareto | None = None
    weibull: Weibull | None = None

    @model_validator(mode="after")
    def _one(self) -> Distribution:
        exactly_one(self, DISTRIBUTIONS)
        return self

    @property
    def chosen(self) -> tuple[str, Model]:
        """The one distribution set: its key and its parameters."""
        for name in DISTRIBUTIONS:
            params = getattr(self, name)
            if params is not None:
                return name, params
        raise ValueError("no distribution set")  # _one refused it


class RandomFactory(Model):
    """``random``: ``generate`` tasks, each formatting ``command`` with one drawn value.

    A ``seed`` makes the values repeatable (the ones Batch Shipyard draws for that seed);
    without one every submission draws anew.
    """

    generate: int = Field(ge=1)
    seed: int | None = None
    integer: RandomInteger | None = None
    distribution: Distribution | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RandomFactory:
        exactly_one(self, ("integer", "distribution"))
        return self


class CustomFactory(Model):
    """``custom``: ``generate(*input_args, **input_kwargs)`` of the user's ``module``."""

    module: str = Field(min_length=1)
    package: str | None = None
    # Strings, as Batch Shipyard's schema has them (a number is read as its text).
    input_args: tuple[str, ...] = ()
    input_kwargs: dict[str, str] = Field(default_factory=dict)
    _directory: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _remember_directory(self, info: ValidationInfo) -> CustomFactory:
        context = info.context if isinstance(info.context, dict) else {}
        directory = context.get(CONTEXT_DIRECTORY)
        self._directory = Path(directory) if directory is not None else None
        return self

    @property
    def directory(self) -> Path | None:
        """The directory jobs.yaml was read from (searched first for ``module``)."""
        return self._directory
