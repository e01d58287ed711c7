"""Autoscale: the Batch formula language and the service that applies it to pools.

The language follows Azure's "Create an automatic formula for scaling compute nodes in a
Batch pool": statements separated by ``;``, assignments to ``$Service`` and user variables,
doubles, doubleVecs, strings, timestamps and timeintervals, sample methods on the metric
variables and the documented built-in functions.

    lexer.py       text -> tokens with line and column (comments and line breaks allowed)
    parser.py      tokens -> statements of expression trees; syntax errors name the spot
    values.py      the formula's types, their operators and how the service prints them
    functions.py   the built-in functions (avg, max, percentile, time, ...)
    samples.py     bounded metric histories and the sample methods (GetSample, Count, ...)
    evaluator.py   runs a parsed formula against a snapshot of samples and pool values
    settings.py    formula and interval checks of request bodies (pool create calls it)
    metrics.py     one sample of a pool, read from the engine's task and node records
    service.py     enable/evaluate/disable for the REST API, the clock that samples and
                   evaluates on each pool's interval, and the resize that follows

``service`` changes pools and kicks the allocator, ``metrics`` reads the store; the
language modules (lexer to evaluator) are pure. Callers from outside the room: the
routes (``service``), pool create (``settings``) and the engine's wiring.
"""
