"""Azure Storage beside the local Batch service: Azurite, and what the node agent moves.

    azurite.py    the Azurite process of one engine: start, re-adopt after a restart, stop
    link.py       ``StorageLink`` (account, key, blob endpoint) and the development account
    transfers.py  resource files in, output files out, as the Batch node agent does them
    checks.py     request-time checks of resource and output file specifications
    nodelogs.py   ``uploadbatchservicelogs``: a node's service logs into a container

Where transfers run, and why: on the host, in the engine, writing into and reading from
the host side of each node's ``/mnt/batch`` bind mount. That is where they run on Azure
too (the node agent, not the task, downloads resource files and uploads output files), it
keeps Azurite on loopback (a node's ``127.0.0.1`` is its own, and the per-pool bridge
gateway would expose the emulator to every task), and a task's files appear with the
same paths and modes whether the bytes came from Azure or from here. Blob URLs handed to
the engine carry the loopback endpoint, so nothing on a node needs to reach storage.

Only ``azure-storage-blob`` speaks to storage here; callers see ``TransferError`` with the
service's ``failureInfo`` code, never an SDK exception. The agent (``agent/uploads.py``,
``agent/execution.py``) and the services call in; nothing here calls back up.
"""
