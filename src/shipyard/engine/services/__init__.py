"""The operations behind the REST API, one module per resource and concern.

    pools.py, poolchecks.py, poolextras.py   pool create/get/list/delete/resize, the
                      create-time checks, patch/update/stop-resize/counts/images
    autoscale/        the formula language and the service that applies it
    nodeops.py        reboot, reimage, deallocate/start, remove, scheduling on/off
    nodeusers.py      node user accounts and remote-login settings
    jobs.py, jobcontrol.py, jobmanager.py, autopool.py
                      jobs: create/get/list/terminate/delete, replace/disable/enable,
                      job manager tasks, auto pools
    tasks.py, taskcontrol.py
                      tasks: add (one and collections), get/list/terminate, subtasks,
                      reactivate/replace, file deletion
    schedules.py, recurrence.py
                      job schedules and the clock that makes their jobs
    lookup.py         a stored resource by id, or the 404 of its kind (``jobs.JOBS``...)

Rules: a service checks its input before it changes anything (a refused request changes
nothing), takes ``Scheduler.lock`` around changes to jobs and tasks, then kicks the
scheduler or the allocator. Errors are ``BatchError`` with the service's codes; the API
room turns them into HTTP.
"""
