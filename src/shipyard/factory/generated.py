"""The values of the ``random`` and ``custom`` task factories (Batch Shipyard's semantics).

``random`` draws from ``random.Random(seed)``: Batch Shipyard seeds the module-level
generator with ``random.seed(seed)`` and calls the same functions, so a seed gives the
values Batch Shipyard gives; without one, each expansion draws anew.

``custom`` is the one place the factory room runs the user's code: it imports
``module`` (relative to ``package`` when set) by name, as Batch Shipyard does, searching
the directory of jobs.yaml first and then Python's path, and calls
``generate(*input_args, **input_kwargs)``. Whatever goes wrong (the import, no
``generate``, an exception inside it, a result that is not an iterable of argument
tuples, more than ``limit`` items: a generator that never ends) ends in one
``ConfigError`` naming the task, before anything is submitted. The argument tuples are
kept per process: ``jobs add`` expands a job more than once (the
tasks, then the storage plan's id map), and the user's ``generate`` must run once so both
see the same tasks.
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from shipyard.config.generators import CustomFactory, RandomFactory
from shipyard.errors import ConfigError

Arguments = tuple[object, ...]

_GENERATED: dict[tuple[str, str], tuple[Arguments, ...]] = {}


def _draw(rng: random.Random, spec: RandomFactory) -> Callable[[], int | float]:
    """The one ``random`` call that draws a value, with its parameters bound."""
    if spec.integer is not None:
        start, stop, step = spec.integer.start, spec.integer.stop, spec.integer.step
        return lambda: rng.randrange(start, stop, step)
    if spec.distribution is None:
        raise ValueError("a random factory needs integer or distribution")  # config refuses
    name, p = spec.distribution.chosen
    params = p.model_dump()
    calls: dict[str, Callable[[], float]] = {
        "uniform": lambda: rng.uniform(params["a"], params["b"]),
        "triangular": lambda: rng.triangular(params["low"], params["high"], params["mode"]),
        "beta": lambda: rng.betavariate(params["alpha"], params["beta"]),
        "exponential": lambda: rng.expovariate(params["lambd"]),
        "gamma": lambda: rng.gammavariate(params["alpha"], params["beta"]),
        "gauss": lambda: rng.gauss(params["mu"], params["sigma"]),
        "lognormal": lambda: rng.lognormvariate(params["mu"], params["sigma"]),
        "pareto": lambda: rng.paretovariate(params["alpha"]),
        "weibull": lambda: rng.weibullvariate(params["alpha"], params["beta"]),
    }
    return calls[name]


def random_values(spec: RandomFactory) -> list[int | float]:
    """The ``generate`` values of a ``random`` factory, in draw order."""
    draw = _draw(random.Random(spec.seed), spec)
    return [draw() for _ in range(spec.generate)]


def custom_arguments(spec: CustomFactory, where: str, limit: int) -> tuple[Arguments, ...]:
    """The argument tuples ``generate`` yields, at most ``limit``; ``where`` names the
    factory in errors."""
    key = (str(spec.directory), spec.model_dump_json())
    if key not in _GENERATED:
        generate = _generate_function(spec, where)
        _GENERATED[key] = _collect(generate, spec, where, limit)
    return _GENERATED[key]


@contextmanager
def _searching(directory: Path | None) -> Iterator[None]:
    """``directory`` first on Python's path for the duration of one import."""
    if directory is None:
        yield
        return
    entry = str(directory)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()  # the module may be newer than the path's cached listing
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def _import(spec: CustomFactory, where: str) -> ModuleType:
    try:
        with _searching(spec.directory):
            return importlib.import_module(spec.module, package=spec.package)
    except (Exception, SystemExit) as exc:
        searched = f"{spec.directory} (jobs.yaml's directory) or " if spec.directory else ""
        raise ConfigError(
            f"jobs.yaml: {where}.module: cannot import {spec.module!r} "
            f"({type(exc).__name__}: {exc})",
            hint=f"put the module in {searched}a directory on PYTHONPATH",
        ) from exc


def _generate_function(spec: CustomFactory, where: str) -> Callable[..., object]:
    module = _import(spec, where)
    generate: object = getattr(module, "generate", None)
    if not callable(generate):
        raise ConfigError(f"jobs.yaml: {where}.module: {spec.module!r} ({module.__file__}) has "
                          "no generate function",
                          hint="define generate(*args, **kwargs) yielding argument tuples")
    return generate


def _collect(generate: Callable[..., object], spec: CustomFactory, where: str, limit: int
             ) -> tuple[Arguments, ...]:
    """Every item ``generate`` gives, each checked to be an argument tuple."""
    out: list[Arguments] = []
    try:
        result = generate(*spec.input_args, **spec.input_kwargs)
        for item in _iterable(result, where):
            if len(out) == limit:
                raise too_many(where, limit, f"{spec.module}.generate yields")
            out.append(_arguments(item, len(out), where))
    except ConfigError:
        raise
    except (Exception, SystemExit) as exc:
        raise ConfigError(f"jobs.yaml: {where}: {spec.module}.generate raised "
                          f"{type(exc).__name__}: {exc}",
                          hint="fix the generator; nothing was submitted") from exc
    return tuple(out)


def too_many(where: str, limit: int, what: str) -> ConfigError:
    """The error of a factory that would make more tasks than one job may have."""
    return ConfigError(f"jobs.yaml: {where}: {what} more than {limit} tasks, shipyard's "
                       "bound for one job (Azure Batch sets none; it stops a generator that "
                       "never ends)",
                       hint="make the factory finite, or split its tasks over several jobs")


def _iterable(result: object, where: str) -> Iterator[object]:
    if isinstance(result, str | bytes) or not isinstance(result, Iterable):
        raise ConfigError(f"jobs.yaml: {where}: generate returned {result!r} "
                          f"({type(result).__name__}), not an iterable of argument tuples",
                          hint="yield one tuple per task, e.g. yield (x,)")
    return iter(result)


def _arguments(item: object, index: int, where: str) -> Arguments:
    # Batch Shipyard unpacks each item into format(*item): a string would be split into
    # its characters, which is never what a generator meant.
    if isinstance(item, str | bytes) or not isinstance(item, Iterable):
        raise ConfigError(f"jobs.yaml: {where}: generate's item {index} is {item!r} "
                          f"({type(item).__name__}), not a tuple of arguments",
                          hint=f"yield a tuple, e.g. yield ({item!r},)")
    return tuple(item)
