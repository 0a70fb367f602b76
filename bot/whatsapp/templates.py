"""Every WhatsApp template GridWorks sends, defined in code; texts come from the locale files.

Why in code: a template must be approved by Meta before it can be sent outside the 24-hour window, per
language, with exactly the parameters we send. Defining each one here (name, category, the locale key of its
body, its parameters in positional order, quick-reply buttons, example values) lets ``gridworks templates
sync`` create them, lets a test render all of them in all languages, and keeps sends and approvals in step.

Our 12 language variants map to Meta's template locales (:data:`META_LOCALE`). Meta has no locale for
Hinglish (``hi-Latn``) or Odia (``or``): both fall back to English (``en``) — Hinglish readers read Latin
script (a Devanagari ``hi`` template would be the wrong script), and English is the lingua franca Odia users
of a trading app meet in every broker's messages; the conversation after the tap continues in their own
language. A body's ``{name}`` placeholders become Meta's ``{{1}}``, ``{{2}}`` … in :attr:`TemplateDef.params`
order, whatever order a language puts them in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from handlers.notifications import TEMPLATE_PARAMS as ORDER_TEMPLATE_PARAMS
from handlers.receipts import HELD_PARAMS, HELD_TEMPLATE
from locales.catalog import LANGUAGES, Catalog

MARKETING, UTILITY = "MARKETING", "UTILITY"

#: Our language variant -> Meta template locale (documented fallbacks: hi-Latn -> en, or -> en).
META_LOCALE: Mapping[str, str] = {"en": "en", "hi": "hi", "hi-Latn": "en", "bn": "bn", "ta": "ta", "te": "te",
                                  "mr": "mr", "gu": "gu", "kn": "kn", "ml": "ml", "pa": "pa", "or": "en"}
#: Which of our variants provides the text registered for each Meta locale.
TEXT_SOURCE: Mapping[str, str] = {locale: lang for lang, locale in reversed(list(META_LOCALE.items()))}


def meta_locale(lang: str | None) -> str:
    return META_LOCALE.get(lang or "en", "en")


@dataclass(frozen=True, slots=True)
class TemplateDef:
    name: str
    category: str
    body_key: str
    params: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()                     # locale keys of quick-reply titles
    examples: Mapping[str, str] = field(default_factory=dict)


_NUDGE_BUTTONS = ("campaigns.button.trial", "campaigns.button.more", "campaigns.button.no")
_ORDER_EXAMPLES = {"side": "BUY", "qty": "10", "filled": "10", "symbol": "TCS", "price": "₹3,512.40",
                   "trigger": "₹3,400.00", "order_id": "ORD123"}

TEMPLATES: tuple[TemplateDef, ...] = (
    TemplateDef("gw_nudge_a", MARKETING, "campaigns.nudge.a", ("days",), _NUDGE_BUTTONS, {"days": "30"}),
    TemplateDef("gw_nudge_b", MARKETING, "campaigns.nudge.b", ("pro_fee", "days"), _NUDGE_BUTTONS,
                {"pro_fee": "₹20", "days": "30"}),
    TemplateDef("gw_trial_reminder", UTILITY, "upgrade.reminder", ("date", "days"), ("upgrade.button.plans",),
                {"date": "23 Dec 2026", "days": "3"}),
    TemplateDef("gw_trial_ended", UTILITY, "upgrade.expired.trial", (), ("upgrade.button.plans",)),
    TemplateDef("gw_plan_ended", UTILITY, "upgrade.expired.paid", ("plan",), ("upgrade.button.plans",),
                {"plan": "PRO Plus"}),
    TemplateDef("gw_price_alert_above", UTILITY, "alerts.triggered.above", ("symbol", "price", "ltp"), (),
                {"symbol": "TCS", "price": "₹4,000.00", "ltp": "₹4,012.50"}),
    TemplateDef("gw_price_alert_below", UTILITY, "alerts.triggered.below", ("symbol", "price", "ltp"), (),
                {"symbol": "TCS", "price": "₹3,000.00", "ltp": "₹2,990.10"}),
    *(TemplateDef(f"gw_order_{kind}", UTILITY, f"trading.event.{kind}", params, (), _ORDER_EXAMPLES)
      for kind, params in ORDER_TEMPLATE_PARAMS.items()),
    TemplateDef(HELD_TEMPLATE, UTILITY, "receipts.held", HELD_PARAMS, (),
                {"receipt_id": "R-1a2b3c4d5e6f", "side": "BUY", "symbol": "TCS"}),
)
BY_NAME: Mapping[str, TemplateDef] = {t.name: t for t in TEMPLATES}

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def meta_body(catalog: Catalog, tpl: TemplateDef, lang: str) -> str:
    """The body as registered with Meta: ``{name}`` -> ``{{i}}``. Raises on a placeholder not in ``params``."""
    text = catalog.raw(lang, tpl.body_key)

    def positional(m: re.Match[str]) -> str:
        if m.group(1) not in tpl.params:
            raise ValueError(f"{tpl.name} ({lang}): {{{m.group(1)}}} is not one of its parameters {tpl.params}")
        return "{{%d}}" % (tpl.params.index(m.group(1)) + 1)

    return _PLACEHOLDER.sub(positional, text.replace("{{", "{").replace("}}", "}"))


def render(catalog: Catalog, tpl: TemplateDef, lang: str, values: Mapping[str, str] | None = None) -> str:
    """The text a user sees, from the registered body and positional values (``values`` by name)."""
    body = meta_body(catalog, tpl, lang)
    values = dict(tpl.examples if values is None else values)
    for i, name in enumerate(tpl.params, start=1):
        body = body.replace("{{%d}}" % i, str(values[name]))
    return body


def button_titles(catalog: Catalog, tpl: TemplateDef, lang: str) -> tuple[str, ...]:
    return tuple(catalog.raw(lang, key) for key in tpl.buttons)


def registrations(catalog: Catalog) -> list[tuple[TemplateDef, str, str]]:
    """(template, Meta locale, our source language) for everything ``templates sync`` registers."""
    locales = sorted(set(META_LOCALE.values()))
    return [(tpl, loc, TEXT_SOURCE[loc]) for tpl in TEMPLATES for loc in locales]


def to_pywa(catalog: Catalog, tpl: TemplateDef, lang: str):
    """The pywa :class:`~pywa.types.templates.Template` to create for ``lang``'s text."""
    from pywa.types import templates as wt

    body = meta_body(catalog, tpl, lang)
    examples = [tpl.examples[name] for name in tpl.params]
    components: list = [wt.BodyText(body, *examples)]
    if tpl.buttons:
        components.append(wt.Buttons(buttons=[wt.QuickReplyButton(text=t) for t in button_titles(catalog, tpl, lang)]))
    return wt.Template(name=tpl.name, language=wt.TemplateLanguage(meta_locale(lang)),
                       category=wt.TemplateCategory(tpl.category), components=components)


__all__ = ["BY_NAME", "LANGUAGES", "MARKETING", "META_LOCALE", "TEMPLATES", "UTILITY", "TemplateDef",
           "button_titles", "meta_body", "meta_locale", "registrations", "render", "to_pywa"]
