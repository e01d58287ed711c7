"""The local engine: the Azure Batch data plane served over HTTP, with real nodes.

A request comes in at ``api``, which checks it and calls a service; services change the
store under the scheduler's lock and kick the scheduler or the allocator; those run the
work on nodes through the agent, which uses the node emulation below it. Rooms, lowest
first; a module imports only from its own room and the rooms below it (``ROOMS``), and
no two modules import each other, not even for type checking
(``tests/unit/test_engine_rooms.py`` walks every import and fails otherwise):

    settings.py   where one engine keeps its state, listens, and which account it serves
    store.py      every resource as its wire document plus private bookkeeping, in SQLite;
                  one connection under the store's own lock, ``mutate`` the only writer
    model/        the service's vocabulary: wire formats, resource documents and their
                  transitions, request-body checks against the SDK's models. Pure.
    nodes/        Linux compute nodes: namespaces, veth, private mounts, a dockerd and an
                  sshd each. Knows nothing of Batch.
    storage/      Azurite beside the engine, and blob transfers as the node agent does them
    agent/        what the Batch node agent does on a node: run a command (plain or in a
                  container), start tasks, task runs and their exits, files, output uploads
    allocation/   pools' nodes: allocate, boot, restart, remove; node health
    scheduling/   the scheduler thread: placement, task transitions, job preparation,
                  release and ends. Holds ``Scheduler.lock`` while it ticks.
    services/     the operations behind the REST API: pools, nodes, node users, jobs, tasks,
                  schedules, auto pools, autoscale. A service takes ``Scheduler.lock``
                  around any change to jobs or tasks, and never calls the API room.
    api/          HTTP: the ASGI app and router, shared-key auth, OData, responses, routes.
                  Routes translate requests into service calls and errors into the
                  service's error bodies; nothing below knows about HTTP.
    server.py, jobwiring.py, __main__.py
                  the engine process: build each room, wire hooks and routes, serve
    control.py    start, stop and inspect a background engine (what ``shipyard local``
                  calls); with ``settings``, the only modules the CLI imports

Threads: HTTP handlers run in Starlette's pool, the scheduler on its own thread, each
pool's allocation and each node's boot on theirs, output uploads in a small pool. Locks,
outermost first: ``Scheduler.lock`` (an RLock), then the store's; nodes' own locks are
leaves. Errors are ``shipyard.errors`` types; only ``api`` turns them into HTTP.
"""

#: The engine's rooms, lowest first. Each entry names the top-level modules and packages
#: of one room; an import may go to the same room or a lower one, never up.
ROOMS: tuple[tuple[str, ...], ...] = (
    ("settings", "store"),
    ("model",),
    ("nodes",),
    ("storage",),
    ("agent",),
    ("allocation",),
    ("scheduling",),
    ("services",),
    ("api",),
    ("server", "jobwiring", "control", "__main__"),
)
