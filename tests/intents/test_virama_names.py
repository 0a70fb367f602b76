"""Malayalam/Tamil/Telugu/Kannada names ending in a bare consonant lose their virama to a case ending
("ബാങ്ക്" → "ബാങ്കിന്റെ"); the scanner restores it on the stripped stem before looking the name up."""

from __future__ import annotations

from intents.lexicon import build_lexicon
from intents.pipeline import IntentPipeline
from intents.scan import Scanner, _virama_for
from intents.text import tokenize


def _symbols(text: str) -> list[object]:
    scanner = Scanner(build_lexicon())
    return [s.value for s in scanner.scan(tokenize(text)) if s.kind == "sym"]


def test_malayalam_genitive_of_a_virama_final_name_resolves():
    assert _symbols("ഇൻഡസ്ഇൻഡ് ബാങ്കിന്റെ 40 ഷെയർ") == ["INDUSINDBK"]


def test_malayalam_limit_buy_with_genitive_name(pipeline: IntentPipeline):
    result = pipeline.classify("ഇൻഡസ്ഇൻഡ് ബാങ്കിന്റെ 40 ഷെയർ 748 രൂപയ്ക്ക് വാങ്ങണം")
    assert result.intent == "buy"
    assert result.entities.symbol == "INDUSINDBK"
    assert result.entities.quantity == 40
    assert result.entities.price == 748


def test_virama_only_for_consonant_final_south_indian_stems():
    assert _virama_for("ബാങ്ക") == "\u0d4d"
    assert _virama_for("பேங்க") == "\u0bcd"
    assert _virama_for("బ్యాంక") == "\u0c4d"
    assert _virama_for("ಬ್ಯಾಂಕ") == "\u0ccd"
    assert _virama_for("ബാങ്കി") is None        # ends in a vowel sign
    assert _virama_for("બેંક") is None          # Gujarati writes no final virama
    assert _virama_for("") is None
