"""``gridworks templates sync|list|show``: the WhatsApp templates defined in ``bot/whatsapp/templates.py``.

``sync --waba-id ID`` creates or updates them at ``WHATSAPP_GRAPH_URL`` through pywa's public template API
and records each one's approval status; ``list`` prints the recorded statuses; ``show NAME [--lang L]``
renders a template with its example values (what Meta reviews) without calling anything.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


def register(sub) -> None:
    parser = sub.add_parser("templates", help="WhatsApp templates as code: sync with Meta, list statuses, show")
    tsub = parser.add_subparsers(dest="templates_command", metavar="ACTION")
    tsub.required = True
    p = tsub.add_parser("sync", help="create or update every template through the Graph API")
    p.add_argument("--waba-id", required=True, help="the WhatsApp Business Account id that owns the templates")
    p.set_defaults(func=_run, action="sync")
    p = tsub.add_parser("list", help="recorded approval statuses")
    p.set_defaults(func=_run, action="list")
    p = tsub.add_parser("show", help="render a template with its example values")
    p.add_argument("name")
    p.add_argument("--lang", default="en")
    p.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    from bot.whatsapp.templates import BY_NAME, TEXT_SOURCE, button_titles, meta_body, meta_locale, render
    from locales.catalog import LANGUAGES, load_catalog

    tpl = BY_NAME.get(args.name)
    if tpl is None or args.lang not in LANGUAGES:
        print(f"gridworks: unknown template or language (templates: {', '.join(BY_NAME)})", file=sys.stderr)
        return 2
    catalog = load_catalog()
    locale = meta_locale(args.lang)
    source = TEXT_SOURCE[locale]         # hi-Latn and or have no Meta locale: they receive the en template
    print(f"{tpl.name} [{tpl.category}] {args.lang} → Meta locale {locale} (text of {source})")
    print(f"registered body: {meta_body(catalog, tpl, source)}")
    print(f"rendered:        {render(catalog, tpl, source)}")
    for title in button_titles(catalog, tpl, source):
        print(f"  [{title}]")
    return 0


def _run(args: argparse.Namespace) -> int:
    from config.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"gridworks: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_action(settings, args))


async def _action(settings, args) -> int:
    from bot.campaigns.env import open_env

    env = await open_env(settings)
    try:
        if args.action == "list":
            for row in await env.store.template_statuses():
                print(f"{row['name']:24s} {row['locale']:4s} {row['category']:9s} {row['status']:10s} "
                      f"{row['template_id'] or ''}")
            return 0
        from bot.campaigns.templates_sync import sync
        from bot.whatsapp.client import build_client

        client = build_client(settings.whatsapp)
        lines = await sync(client, env.store, env.catalog, waba_id=args.waba_id, now=env.clock.now())
        for line in lines:
            print(f"{line.name:24s} {line.locale:4s} {line.action:9s} {line.status}")
        errors = sum(1 for line in lines if line.action == "error")
        print(f"{len(lines)} templates: {sum(1 for x in lines if x.action == 'created')} created, "
              f"{sum(1 for x in lines if x.action == 'updated')} updated, {errors} errors")
        return 1 if errors else 0
    finally:
        await env.close()
