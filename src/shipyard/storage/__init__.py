"""The client side of Azure Storage: accounts from credentials.yaml, blobs, transfers.

    account.py    ``Account``: a ``credentials.storage`` link resolved to endpoint and key
                  (a local Batch account's links default to the local engine's Azurite)
    blobs.py      ``Blobs``: SAS URLs, listings with include/exclude, uploads and downloads
                  with progress; storage's refusals become one-line ``StorageError``s
    plan.py       a job's data movement resolved against storage (SAS, listings) and handed
                  to the pure ``factory.data`` functions

Everything here speaks to storage only through ``azure-storage-blob``. The CLI calls in;
nothing here imports the engine (the CLI passes the local account in).
"""
