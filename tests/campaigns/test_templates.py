"""Templates as code: every template renders in every language with its example values, fits Meta's rules,
and no nudge (nor any reply to its buttons) names a stock or suggests a trade."""

from __future__ import annotations

import json
import re

import pytest

from bot.whatsapp.templates import (BY_NAME, MARKETING, META_LOCALE, TEMPLATES, TEXT_SOURCE, button_titles,
                                    meta_body, meta_locale, render, to_pywa)
from campaigns.compliance import violations
from locales.catalog import LANGUAGES, load_catalog

CATALOG = load_catalog()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("tpl", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_every_template_renders_in_every_language_within_metas_rules(tpl, lang):
    body = meta_body(CATALOG, tpl, lang)
    used = sorted({int(n) for n in re.findall(r"\{\{(\d+)\}\}", body)})
    assert used == list(range(1, len(tpl.params) + 1)), (tpl.name, lang, body)   # each parameter, in 1..n
    assert not re.match(r"\s*\{\{", body) and not re.search(r"\{\{\d+\}\}\s*$", body)   # not first or last
    assert len(body) <= 1024 and "\n\n\n" not in body
    text = render(CATALOG, tpl, lang)
    assert "{" not in text and all(str(tpl.examples[p]) in text for p in tpl.params)
    titles = button_titles(CATALOG, tpl, lang)
    assert len(titles) == len(tpl.buttons) <= 3 and all(0 < len(t) <= 25 for t in titles)
    created = json.loads(to_pywa(CATALOG, tpl, lang).to_json())
    assert created["name"] == tpl.name and created["language"] == meta_locale(lang)
    assert created["category"] == tpl.category


@pytest.mark.parametrize("lang", LANGUAGES)
def test_nudges_and_the_replies_to_their_buttons_never_name_a_stock_or_suggest_a_trade(lang):
    texts = [meta_body(CATALOG, t, lang) for t in TEMPLATES if t.category == MARKETING]
    texts += [t for tpl in TEMPLATES if tpl.category == MARKETING for t in button_titles(CATALOG, tpl, lang)]
    texts.append(CATALOG.raw(lang, "campaigns.declined"))
    assert all(not violations(t) for t in texts), {t[:40]: violations(t) for t in texts if violations(t)}


def test_the_compliance_check_can_fail():
    assert violations("Buy TCS before Friday") and violations("आज रिलायंस खरीदें") and violations("டிசிஎஸ் வாங்கு")
    assert violations("Sell your Infosys shares") and not violations("Try GridWorks PRO free for 30 days")


def test_languages_without_a_meta_locale_fall_back_to_english_text():
    assert set(META_LOCALE) == set(LANGUAGES)
    assert meta_locale("hi-Latn") == "en" and meta_locale("or") == "en" and meta_locale("ta") == "ta"
    assert TEXT_SOURCE["en"] == "en" and TEXT_SOURCE["hi"] == "hi"
    assert set(TEXT_SOURCE) == set(META_LOCALE.values())


def test_templates_the_product_sends_are_defined():
    for name in ("gw_nudge_a", "gw_nudge_b", "gw_trial_reminder", "gw_plan_ended", "gw_price_alert_above",
                 "gw_order_fill", "gw_order_receipt"):
        assert name in BY_NAME
