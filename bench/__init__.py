"""Benchmarks of shipyard against the physical floor, measured side by side in one run.

Every figure is a ratio of the product's time to the same work done directly with the
node runtime (``shipyard.engine.nodes``) on the same machine, in the same run, so the noise
of a shared machine hits both sides alike. ``scripts/bench`` runs them (see ``main``).
"""
