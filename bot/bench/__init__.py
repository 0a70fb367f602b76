"""Benchmark machinery that needs more than one module: ``gridworks bench cluster``
(:mod:`bot.bench.cluster`) with its fake Graph API (:mod:`bot.bench.graph_sink`) and its process topologies
(:mod:`bot.bench.topology`)."""
