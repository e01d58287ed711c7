"""Autoscale settings in request bodies: formula, interval, and the create-time rules.

Called by pool create (``check_create``) and by the enable/evaluate operations. A formula
is only parsed here, never run: the service refuses a formula that does not parse with
400 ``AutoScalingFormulaSyntaxError`` and one over 8192 characters with
``AutoScaleFormulaTooLong``; the evaluation interval runs from 5 minutes to 168 hours.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shipyard.engine.model import requests, wire
from shipyard.engine.services.autoscale import parser
from shipyard.engine.services.autoscale.lexer import MAX_FORMULA_CHARS, FormulaError
from shipyard.errors import BatchError, ConfigError

DEFAULT_INTERVAL = timedelta(minutes=15)
MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=168)


def check_formula(formula: object) -> str:
    """The formula, once it parses; the service's 400s when it does not."""
    if not isinstance(formula, str) or not formula.strip():
        raise requests.missing("autoScaleFormula")
    if len(formula) > MAX_FORMULA_CHARS:
        raise BatchError(400, "AutoScaleFormulaTooLong",
                         "The specified auto-scaling formula exceeds lengths limit.",
                         [("MaxLength", str(MAX_FORMULA_CHARS))])
    try:
        parser.parse(formula)
    except FormulaError as exc:
        raise BatchError(400, "AutoScalingFormulaSyntaxError",
                         "The specified auto-scaling formula has a syntax error.",
                         [("Message", str(exc))]) from exc
    return formula


def check_interval(raw: object) -> str:
    """The interval normalised (``PT06M00S`` -> ``PT6M``), default 15 minutes."""
    if raw is None:
        return wire.format_duration(DEFAULT_INTERVAL)
    try:
        interval = wire.parse_duration(str(raw))
    except ConfigError as exc:
        raise requests.bad_value("autoScaleEvaluationInterval", raw, str(exc)) from exc
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise requests.bad_value("autoScaleEvaluationInterval", raw,
                                 "the interval must be from 5 minutes to 168 hours")
    return wire.format_duration(interval)


def check_create(body: dict[str, Any]) -> dict[str, Any]:
    """Autoscale settings of a pool create; the private fields the pool record needs."""
    if not body.get("enableAutoScale"):
        for name in ("autoScaleFormula", "autoScaleEvaluationInterval"):
            if body.get(name) is not None:
                raise requests.bad_value(name, body[name],
                                         "allowed only when enableAutoScale is true")
        return {}
    for name in ("targetDedicatedNodes", "targetLowPriorityNodes"):
        if body.get(name) is not None:
            raise requests.bad_value(name, body[name], "the autoscale formula sets the "
                                     "targets: leave them out when enableAutoScale is true")
    body["autoScaleFormula"] = check_formula(body.get("autoScaleFormula"))
    body["autoScaleEvaluationInterval"] = check_interval(body.get("autoScaleEvaluationInterval"))
    return {"autoscale_next": 0.0}  # due at once: the clock evaluates it on its next tick


