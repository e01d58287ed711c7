"""The scheduler thread: which task runs where and when, and how jobs end.

    scheduler.py    the loop: advance running tasks from their exits, place active tasks
                    on free slots, complete jobs, keep node counters true
    placer.py       one tick's placement pass: jobs take turns by urgency; a placed task
                    gets its nodes (and turns preparing, or is handed back to launch)
    placement.py    free slots per node, dependencies, multi-instance needs (bookkeeping)
    transitions.py  one task state change per store write, with everything that moves
                    with it
    jobflow.py      job preparation and release tasks, terminate, delete, job limits,
                    retention; reaches its scheduler only through ``FlowHost``

A tick holds ``Scheduler.lock``; services take the same lock to change jobs and tasks, so
the two never interleave. Hooks (job managers, schedules, auto pools) are registered from
above by ``jobwiring`` and run first in each tick: nothing here imports a service.
"""
