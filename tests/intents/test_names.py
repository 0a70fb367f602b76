"""Company names at NSE scale (issue 14): brand and short names, Indic scripts matched by sound, spelled
acronyms, shared names asked back, companies not on NSE answered as such, everyday words left alone."""

from __future__ import annotations

import pytest

from intents.pipeline import IntentPipeline

HUL = {  # "what is the price of Hindustan Unilever" in five scripts the lexicon has no spelling of
    "ta": "ஹிந்துஸ்தான் யூனிலீவர் விலை என்ன", "te": "హిందుస్తాన్ యూనిలీవర్ ధర ఎంత",
    "kn": "ಹಿಂದೂಸ್ತಾನ್ ಯೂನಿಲಿವರ್ ಬೆಲೆ ಎಷ್ಟು", "ml": "ഹിന്ദുസ്ഥാൻ യൂണിലിവർ വില എത്ര",
    "bn": "হিন্দুস্তান ইউনিলিভারের দাম কত",
}
ZOMATO = {  # "buy 10 zomato" — Zomato Ltd is ETERNAL on NSE since 2025
    "en": "buy 10 zomato", "hi-Latn": "zomato ke 10 share le lo", "hi": "10 ज़ोमैटो शेयर खरीदो",
    "bn": "10 জোম্যাটো শেয়ার কিনুন", "ta": "10 சொமாட்டோ பங்குகள் வாங்கு", "te": "10 జొమాటో షేర్లు కొను",
    "kn": "10 ಜೊಮ್ಯಾಟೊ ಷೇರು ಖರೀದಿಸು", "ml": "10 സൊമാറ്റോ ഓഹരി വാങ്ങുക", "mr": "10 झोमॅटो शेअर घ्या",
    "gu": "10 ઝોમેટો શેર ખરીદો", "pa": "10 ਜ਼ੋਮੈਟੋ ਸ਼ੇਅਰ ਖਰੀਦੋ", "or": "10 ଜୋମାଟୋ ସେୟାର କିଣ",
}


@pytest.mark.parametrize("lang", sorted(HUL))
def test_a_full_company_name_in_a_script_the_lexicon_never_spelled(pipeline: IntentPipeline, lang: str) -> None:
    result = pipeline.classify(HUL[lang])
    assert (result.intent, result.entities.symbol) == ("price_quote", "HINDUNILVR"), result


@pytest.mark.parametrize("lang", sorted(ZOMATO))
def test_buy_zomato_in_every_script_is_an_order_for_eternal(pipeline: IntentPipeline, lang: str) -> None:
    result = pipeline.classify(ZOMATO[lang])
    assert result.intent == "buy" and result.entities.symbol == "ETERNAL" and result.entities.quantity == 10, result


@pytest.mark.parametrize(("text", "symbol"), [
    ("infy price", "INFY"), ("ril ka bhav", "RELIANCE"), ("sbi price", "SBIN"), ("hul price", "HINDUNILVR"),
    ("m&m price", "M&M"), ("l&t share price", "LT"), ("price of MRF", "MRF"), ("tata power price", "TATAPOWER"),
    ("एच डी एफ सी बैंक का भाव", "HDFCBANK"), ("ஹெச். டி. எஃப். சி. பேங்க் விலை", "HDFCBANK"),
    ("एमआरएफ का भाव", "MRF"), ("आईआरसीटीसी का भाव", "IRCTC"), ("টাটা পাওয়ারের দাম কত", "TATAPOWER"),
])
def test_short_brand_and_spelled_names(pipeline: IntentPipeline, text: str, symbol: str) -> None:
    result = pipeline.classify(text)
    assert result.intent == "price_quote" and result.entities.symbol == symbol, result


@pytest.mark.parametrize(("text", "expected"), [
    ("hindustan share price", {"HAL", "HINDUNILVR", "HINDZINC"}),
    ("ஹெச். டி. எஃப். சி. விலை", {"HDFCBANK", "HDFCLIFE"}),
    ("h d f c price", {"HDFCBANK", "HDFCLIFE"}),
])
def test_a_shared_name_asks_back_with_a_short_list(pipeline: IntentPipeline, text: str, expected: set) -> None:
    result = pipeline.classify(text)
    assert result.entities.symbol is None
    assert expected <= set(result.entities.symbol_candidates) and len(result.entities.symbol_candidates) <= 10


@pytest.mark.parametrize(("text", "name"), [
    ("netflix stock price", "Netflix"), ("buy 5 tesla shares", "Tesla"), ("நெட்ஃபிளிக்ஸ் பங்கு விலை", "Netflix"),
    ("टेस्ला शेयर का भाव", "Tesla"), ("apple stock price", "Apple"),
])
def test_a_company_not_on_nse_is_named_never_traded(pipeline: IntentPipeline, text: str, name: str) -> None:
    result = pipeline.classify(text)
    assert result.intent == "price_quote" and result.entities.unlisted == name and result.entities.symbol is None


@pytest.mark.parametrize("text", [
    "ज़ोमैटो से खाना मंगाओ", "my zomato order is late", "rythu bazar lo tomato rate entha", "पुराना फ्रिज बेचना है",
    "हम विचार कर रहे हैं", "ফেসবুকে শেয়ার করতে চাই ছবিগুলো", "apple price", "netflix e ki dekhbo",
    "మీషో పార్సెల్ ఎక్కడ ఉంది", "phonepe te taka pathao",
])
def test_everyday_words_and_other_apps_are_no_company(pipeline: IntentPipeline, text: str) -> None:
    result = pipeline.classify(text)
    assert result.intent not in ("buy", "sell") and result.entities.unlisted is None, result
    assert result.intent != "price_quote" or result.entities.symbol is None, result
