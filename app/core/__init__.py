"""The engine core: SpiffWorkflow wrapped (engine, script engine, restricted expressions),
the stored state (store, compaction) and the feeding of recorded inputs (reapply).

Only this package imports SpiffWorkflow (tests/test_conventions.py).
"""
