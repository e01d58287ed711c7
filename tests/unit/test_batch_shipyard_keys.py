"""Every key of Batch Shipyard 3.9.1's own schemas is known here: modelled, or refused as
"a Batch Shipyard setting that shipyard does not support", never "unknown key".

The schemas (tests/data/batch_shipyard_3.9.1/schemas, pykwalify ``map``/``seq`` trees) are
walked alongside our models; ``regex;`` keys are the user's own names (a storage link, a
registry server) and are walked into without a name check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from shipyard.config.credentials import CredentialsFile
from shipyard.config.global_config import GlobalConfig
from shipyard.config.jobs import JobsFile
from shipyard.config.pool import PoolFile
from shipyard.config.unimplemented import UNIMPLEMENTED

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "batch_shipyard_3.9.1" / "schemas"
MODELS: dict[str, type[BaseModel]] = {"credentials": CredentialsFile, "config": GlobalConfig,
                                      "pool": PoolFile, "jobs": JobsFile}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (directly, in a list, or as a mapping's values)."""
    stack = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current
        if get_origin(current) is dict:
            return _model_in(get_args(current)[1])
        stack.extend(get_args(current))
    return None


def _missing(schema: dict[str, Any], model: type[BaseModel] | None, path: str) -> list[str]:
    if schema.get("type") == "seq":
        return [m for sub in schema.get("sequence", []) for m in _missing(sub, model, path + "[*]")]
    if schema.get("type") != "map" or model is None:
        return []
    out = []
    for key, sub in (schema.get("mapping") or {}).items():
        if key.startswith("regex;"):
            continue  # the user's own names; their values are checked where modelled
        fields = _by_key(model)
        if key not in fields:
            out.append(f"{path}.{key}".lstrip("."))
            continue
        out += _missing(sub, _model_in(fields[key].annotation), f"{path}.{key}")
    return out


def _by_key(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the YAML key they read (``exponential.lambda`` is an alias)."""
    return {str(info.validation_alias or name): info for name, info in model.model_fields.items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_batch_shipyard_key_is_known(name: str) -> None:
    schema = yaml.safe_load((SCHEMAS / f"{name}.yaml").read_text())
    assert _missing(schema, MODELS[name], "") == []


def test_the_walk_sees_a_key_we_lack() -> None:
    """The check can fail: a schema key no model declares is reported."""
    schema = {"type": "map", "mapping": {"job_specifications": {"type": "seq", "sequence": [
        {"type": "map", "mapping": {"id": {"type": "str"}, "no_such": {"type": "str"}}}]}}}
    assert _missing(schema, JobsFile, "") == ["job_specifications[*].no_such"]


@pytest.mark.parametrize("pattern", ["credentials.slurm", "credentials.batch.test_cluster"])
def test_real_keys_without_support_are_listed(pattern: str) -> None:
    assert pattern in {entry.pattern for entry in UNIMPLEMENTED}
