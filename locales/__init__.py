"""Every user-facing text, per language: ``locales/<lang>/<area>.toml``, flat ``key = "text {placeholder}"``.

Areas are split so that each part of the product owns its own files (core, trading, engine, zk, …).
"""

from locales.catalog import LANGUAGES, Catalog, Translator, load_catalog

__all__ = ["LANGUAGES", "Catalog", "Translator", "load_catalog"]
