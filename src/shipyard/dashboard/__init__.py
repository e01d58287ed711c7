"""The dashboard: a local web page over any Batch account, read-only.

- ``views``   what each page shows, as JSON, read through the SDK's ``BatchClient`` only
- ``files``   file listings and the live tail of a task's or a node's file
- ``app``     the Starlette application: page routes (one HTML shell), ``/api/...`` JSON
- ``render``  the timeline of a multi-instance task as SVG (dashboard, HTML file) and PNG
- ``static/`` the HTML shell, stylesheet and script, served from the package (no CDN)

Called by ``cli/dashboard.py`` (``shipyard dashboard``, ``shipyard jobs timeline``). The
figures and the timeline themselves are computed in ``batch/figures.py`` and
``batch/timeline.py``; this room only shows them.
"""
