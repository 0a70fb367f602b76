"""Multilingual intent pipeline (pure: no network, no I/O while classifying).

Public API::

    from intents.pipeline import IntentPipeline
    pipeline = IntentPipeline.load(llm=None)              # trains into the cache on first use
    result = pipeline.classify("reliance ke 10 share 2450 pe le lo", lang_hint=None)
    results = pipeline.classify_many(texts)
    result = await pipeline.aclassify(text, lang_hint="hi")   # + optional LLM for unsure messages

``result`` is an :class:`intents.types.IntentResult`; ``result.to_trace()`` is the trace/CLI shape.
Module map: text (normalisation) → lexicon (merged language data) → scan/fuzzy (names, numbers) →
features (masking) → textcat_arch/model/training (spaCy classifier, cache) → langid → entities →
gating → pipeline; evaluate/report/bench for measurement; llm for the optional fallback.
"""
