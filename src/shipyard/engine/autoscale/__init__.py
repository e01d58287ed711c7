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
    service.py     enable/evaluate/disable for the REST API, the clock that samples and
                   evaluates on each pool's interval, and the resize that follows

Only ``service`` touches the store and the allocator; everything else is pure and is
called by ``service`` (and the unit tests) alone.
"""
