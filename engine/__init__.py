"""The embedded order engine (Indian cash equities, Kite vocabulary), run in-process by default.

Map: ``api`` (the contract handlers use) · ``factory.open_engine`` (build it) · ``embedded`` (async facade: lock,
commit, group commit; ``place_many`` places a batch as one command in one transaction) · pure core: ``core``
(orders, matching, fills), ``validation`` (checks, estimates), ``session`` (time: AMO release, call auction,
triggers, resting fills, MIS square-off, DAY expiry), ``book`` (price-time book), ``ledger`` (double-entry cash,
holdings with T+1 lots, MIS positions), ``lifecycle`` (status table), ``charges`` (dated rates, tier brokerage),
``rejections`` (codes) · data: ``instruments``, ``calendar``, ``market`` (the market-data port and the
deterministic simulated market) · persistence: ``tables``, ``store``, ``sqlite_writer`` (optional SQLite writer
process, ``EngineParams.writer_process``) · ``contract_note`` · ``bench``. Nothing is imported here so that
``import engine.api`` stays light.
"""
