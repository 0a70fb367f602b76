"""Language detection: script first, then words (Hinglish vs English, Hindi vs Marathi), then the hint."""

from __future__ import annotations

import pytest

from intents.pipeline import IntentPipeline


@pytest.mark.parametrize("text, lang", [
    ("what is the price of infosys", "en"),
    ("mera portfolio dikhao", "hi-Latn"),
    ("reliance ka bhav kya hai", "hi-Latn"),
    ("मेरा पोर्टफोलियो दिखाओ", "hi"),
    ("আমার পোর্টফোলিও দেখাও", "bn"),
    ("என் போர்ட்ஃபோலியோ காட்டு", "ta"),
    ("నా పోర్ట్‌ఫోలియో చూపించు", "te"),
    ("ನನ್ನ ಪೋರ್ಟ್‌ಫೋಲಿಯೋ ತೋರಿಸು", "kn"),
    ("എന്റെ പോർട്ട്ഫോളിയോ കാണിക്കൂ", "ml"),
    ("ਮੇਰਾ ਪੋਰਟਫੋਲੀਓ ਦਿਖਾਓ", "pa"),
    ("ମୋ ପୋର୍ଟଫୋଲିଓ ଦେଖାନ୍ତୁ", "or"),
    ("મારો પોર્ટફોલિયો બતાવો", "gu"),
    ("10 शेयर buy करो reliance के", "hi"),
])
def test_detects_language(pipeline: IntentPipeline, text: str, lang: str):
    assert pipeline.classify(text).lang == lang


def test_marathi_words_beat_hindi(pipeline: IntentPipeline):
    assert pipeline.classify("माझे पैसे किती आहेत").lang == "mr"
    assert pipeline.classify("मेरे पैसे कितने हैं").lang == "hi"


def test_hint_breaks_ties_only(pipeline: IntentPipeline):
    assert pipeline.classify("ok", lang_hint="hi").lang == "hi-Latn"
    assert pipeline.classify("ok", lang_hint="ta").lang in ("ta", "en")
    # a hint never overrides the script
    assert pipeline.classify("আমার পোর্টফোলিও দেখাও", lang_hint="hi").lang == "bn"
