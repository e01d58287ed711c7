"""What the Batch node agent does on one node, done from the engine's side.

    execution.py     one command on one node: split, environment, task directory, exit
                     file; inside the task's image when it has ``containerSettings``
    containers.py    container tasks: the docker run line, the multi-instance containers
    runs.py          one task's run on its node(s): start, progress from exit files, stop;
                     ``Outcome`` is how a run ended
    taskrun.py       what a task record keeps of its run: ``Instance`` per node, ``TaskRun``
    exits.py         ``ExitWatch``: a pidfd per launched supervisor, to notice ends at once
    boot.py          a node from allocated to idle: directories, then the start task
    files.py         the node-file and task-file APIs' view of a node's directories
    uploads.py       output-file uploads after a task ends, off the scheduler's lock
    sharedmounts.py  a pool's shared directory behind every node's ``mounts``

Rules: functions here act on the nodes they are given and on the records they are handed;
they never pick nodes, change pool or job state, or take the scheduler's lock (the caller
holds it when it must). A node that cannot run a command raises ``NodeUnusableError``.
"""
