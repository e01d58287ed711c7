"""HTTP: the Batch REST API on top of the services.

    app.py         the ASGI app: body limits, auth, request ids, error translation; the
                   ``Router`` and ``Call`` every route module uses
    auth.py        shared-key signatures and bearer tokens
    odata.py       ``$filter`` and ``$select`` of list responses
    paging.py      ``maxresults``, signed ``$skiptoken``s and ``odata.nextLink``
    responses.py   the headers and bodies of created, fetched and listed resources
    handlers.py    a handler from a service operation, the request parts it takes and
                   an answer; the five routes of a top-level resource
    routes_*.py    one module per resource family: paths to service calls

Rules: routes parse paths, query strings and headers, call one service, and answer; no
state lives here. Every engine error becomes the service's error body at ``app``.
"""
