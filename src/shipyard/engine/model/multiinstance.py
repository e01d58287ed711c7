"""A multi-instance task's settings, parsed once when the task is created.

``MultiInstance.parse`` checks a new task's ``multiInstanceSettings`` and the task record
keeps the result in its private part (``multi_instance``: the settings, or null for a
plain task); placement, the run's start and its requeue read it from there with
``MultiInstance.of``. A record stored before that key existed has its settings read from
its document, which was checked the same way when it was created.

Empty settings (``{}``) make a plain task, as they always did here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.engine.model import requests
from shipyard.engine.store import Json, Record

#: The key of the parsed settings in a task record's private part.
KEY = "multi_instance"


@dataclass(frozen=True)
class MultiInstance:
    """How a task spans nodes: ``instances`` nodes, one coordination command on each.

    >>> MultiInstance.parse({"numberOfInstances": 3, "coordinationCommandLine": "sshd"})
    MultiInstance(instances=3, coordination='sshd', common_files=())
    """

    instances: int
    #: ``coordinationCommandLine``: run on every node first (none: the primary runs only).
    coordination: str | None = None
    #: ``commonResourceFiles``: fetched into every instance's task directory.
    common_files: tuple[Json, ...] = ()

    @classmethod
    def parse(cls, settings: dict[str, Any] | None) -> MultiInstance | None:
        """The settings of a task-create body (typed by the SDK's model), checked."""
        if not settings:
            return None
        count = settings.get("numberOfInstances", 1)
        if not isinstance(count, int) or count < 1:
            raise requests.bad_value("multiInstanceSettings.numberOfInstances", count,
                                     "must be a positive integer")
        return cls(int(count), settings.get("coordinationCommandLine"),
                   tuple(settings.get("commonResourceFiles") or ()))

    @classmethod
    def of(cls, task: Record) -> MultiInstance | None:
        """The parsed settings a task record keeps (see the module docstring)."""
        if KEY in task.private:
            return cls.from_json(task.private[KEY])
        return cls.parse(task.doc.get("multiInstanceSettings"))

    def to_json(self) -> Json:
        return {"instances": self.instances, "coordination": self.coordination,
                "common_files": list(self.common_files)}

    @classmethod
    def from_json(cls, raw: Json | None) -> MultiInstance | None:
        if raw is None:
            return None
        return cls(int(raw["instances"]), raw.get("coordination"),
                   tuple(raw.get("common_files") or ()))


def private_of(multi: MultiInstance | None) -> Json:
    """The private part a new task record starts with."""
    return {KEY: None if multi is None else multi.to_json()}
