"""shipyard: containerized multi-node MPI jobs on Azure Batch, and a local Azure Batch engine.

Rooms: ``config`` (YAML dialect), ``factory`` (create-options), ``batch`` (client side),
``engine`` (the local Azure Batch service with real compute nodes), ``cli``.
"""

__version__ = "0.1.0"
