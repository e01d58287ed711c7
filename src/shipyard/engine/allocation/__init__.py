"""Pools' nodes: from a pool's target counts to booted nodes, and back.

    allocator.py  one worker thread per pool reconciles node records with the targets,
                  starts new nodes' boots on their own threads, settles and deletes
                  pools; ``recover`` resumes all of it after an engine restart
    nodelife.py   one node's life: allocate, boot (images, start task), restart, halt,
                  remove, recover; the allocator's only way to change a node
    health.py     one test for "can this node run a command now", shared by the health
                  check, placement and every launch; marks a node unusable with a reason

Called by the services (pool create, resize, node operations) and the scheduler (health).
Writes pool and node records through the store; never touches jobs or tasks.
"""
