"""The service's vocabulary, shared by every room above: pure functions over documents.

    states.py     the states and results of pools, nodes, jobs, schedules and tasks (StrEnums
                  of the wire values), and the sets the engine's rules use (TASK_LIVE, ...)
    wire.py       datetimes, durations, ETags and error bodies as the service spells them
    docs.py       pool, node, job and task documents: built once, then moved only by the
                  transition helpers here (state, times, eTag together)
    requests.py   request bodies parsed and checked against the SDK's own models
    bodytypes.py  the JSON type of each body property, from the SDK's model annotations
    multiinstance.py  a task's multiInstanceSettings, parsed once when the task is created

Rules: no I/O, no threads, no locks; imports only ``store`` (for ``Json``/``Record``) and
the SDK's models. Refusals are ``BatchError`` with the service's code.
"""
