"""A serving process settles its heap once started: what start-up built is frozen out of the collector's sight,
and collections run less often (the full ones walked the model and caches with the loop stopped: 50–105 ms
in the webhook's acknowledgement tail, see ``GC_THRESHOLDS``)."""

from __future__ import annotations

import gc

from bot.cli.common import GC_THRESHOLDS, freeze_startup_heap


def test_start_up_objects_are_frozen_and_collections_are_rarer():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)                    # Python's default (an in-process serve may have run)
    built = [{"n": i} for i in range(1000)]          # stands in for the model, catalogs and caches
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(built)
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700
        cycle: list = []
        cycle.append(cycle)                          # reference cycles made afterwards are still collected
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
