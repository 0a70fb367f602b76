"""Company names in any script: romanize Indic words and match them phonetically against the Latin names.

The lexicon holds every NSE company by its Latin names (symbol, NSE's official name, short and brand names).
Writing those names out in eleven Indic scripts by hand does not scale to 2,400 companies, so an Indic word
the lexicon does not know is romanized (``indic_transliteration``, ISO 15919), folded to a coarse phonetic
key (aspiration, voicing, vowel length and doubled letters dropped: Tamil has one letter for k/g, Bengali
writes v as bh) and compared with the keys of the Latin names with ``rapidfuzz``. Spelled abbreviations
("एच डी एफ सी", "ஹெச். டி. எஃப். சி.", "h d f c") are read letter by letter, each letter name standing for
the letters it may be, and accepted only when the letters spell a name the lexicon knows.

Everything here is built once per lexicon; a lookup is a few dictionary probes and, for an unknown Indic
word, one ``rapidfuzz`` scan over the names with the same number of words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product

Key = tuple[str, ...]

# Unicode blocks → indic_transliteration scheme names.
_SCHEMES = (("devanagari", 0x0900, 0x097F), ("bengali", 0x0980, 0x09FF), ("gurmukhi", 0x0A00, 0x0A7F),
            ("gujarati", 0x0A80, 0x0AFF), ("oriya", 0x0B00, 0x0B7F), ("tamil", 0x0B80, 0x0BFF),
            ("telugu", 0x0C00, 0x0C7F), ("kannada", 0x0C80, 0x0CFF), ("malayalam", 0x0D00, 0x0D7F))
# Scripts whose words drop the inherent vowel at the end ("हिंदुस्तान" is hindustān, not hindustāna).
_SCHWA_DELETING = frozenset({"devanagari", "bengali", "gurmukhi", "gujarati", "oriya"})
# Malayalam chillu letters are consonants without a vowel: written out as consonant + virama.
_CHILLU = {"\u0d7a": "\u0d23\u0d4d", "\u0d7b": "\u0d28\u0d4d", "\u0d7c": "\u0d30\u0d4d", "\u0d7d": "\u0d32\u0d4d",
           "\u0d7e": "\u0d33\u0d4d", "\u0d7f": "\u0d15\u0d4d"}
_TAMIL_FOLD = {"\u0ba9": "\u0ba8", "\u0bb1": "\u0bb0", "\u0bb4": "\u0bb3"}   # ṉ → n, ṟ → r, ḻ → ḷ
_ANUSVARA = str.maketrans({"ṅ": "n", "ñ": "n", "ṇ": "n", "ṉ": "n", "ẏ": "y", "ṟ": "r",
                           "ḻ": "l", "ḷ": "l", "ṛ": "r", "ṝ": "r", "ś": "s", "ṣ": "s", "ḥ": ""})


def script_scheme(text: str) -> str | None:
    for ch in text:
        o = ord(ch)
        for name, lo, hi in _SCHEMES:
            if lo <= o <= hi:
                return name
    return None


@lru_cache(maxsize=8192)
def romanize(text: str) -> str:
    """ISO-15919-like Latin for Indic-script text, diacritics folded to ASCII ("ஹிந்துஸ்தான்" → "hindhusdhan").
    Latin text comes back as it is."""
    scheme = script_scheme(text)
    if scheme is None:
        return text
    from indic_transliteration import sanscript  # imported on the first Indic word that needs it

    if scheme == "malayalam":
        text = "".join(_CHILLU.get(ch, ch) for ch in text).replace("\u0d31\u0d4d\u0d31", "\u0d1f\u0d4d\u0d1f")
    elif scheme == "tamil":
        text = "".join(_TAMIL_FOLD.get(ch, ch) for ch in text)
    elif scheme == "oriya":
        text = text.replace("\u0b71", "\u0b35")      # ୱ (wa) as ଵ (va): the scheme has no wa
    out = sanscript.transliterate(text, scheme, sanscript.ISO)
    if scheme in _SCHWA_DELETING:
        out = " ".join(w[:-1] if len(w) > 2 and w.endswith("a") and w[-2] not in "aāeēiīoōuū" else w
                       for w in out.split(" "))
    out = _NASAL.sub(lambda m: "n" if m.group(1) else "m", out.replace("ṃ", "ṁ")).translate(_ANUSVARA)
    out = "".join(c for c in unicodedata.normalize("NFD", out) if not unicodedata.combining(c))
    return "".join(c if c.isascii() else "" for c in out).lower()


# Anusvara (and Tamil's final m, which ISO also writes ṁ): n before a dental, velar or palatal, else m.
_NASAL = re.compile(r"ṁ(?=([kgtdṭḍnsśṣcj])?)")

_GLIDE = re.compile(r"(?<=[aeiou])([vwy])(?=[aeiou])")

_DIGRAPHS = (("ph", "f"), ("bh", "b"), ("th", "t"), ("dh", "d"), ("kh", "k"), ("gh", "g"), ("jh", "j"),
             ("ch", "c"), ("sh", "s"), ("ck", "k"), ("qu", "kv"), ("ee", "i"), ("oo", "u"), ("x", "ks"))
_MERGE = str.maketrans({"d": "t", "g": "k", "b": "p", "v": "p", "w": "p", "f": "p", "c": "j", "z": "j", "q": "k",
                         "s": "j"})


@lru_cache(maxsize=16384)
def phonetic(text: str, *, english: bool = False) -> str:
    """A coarse sound key shared by English spellings and romanized Indic ("unilever" ~ "yunilivar").

    ``english``: soften c before e/i/y ("cipla" → s), as English spelling does; romanized Indic c is ch."""
    words = []
    for word in text.lower().split():
        w = "".join(ch for ch in word if ch.isalpha() and ch.isascii())
        if not w:
            continue
        if english:
            w = "".join("s" if ch == "c" and nxt in "eiy" else ch for ch, nxt in zip(w, w[1:] + " "))
        for a, b in _DIGRAPHS:
            w = w.replace(a, b)
        w = w[0] + w[1:].replace("h", "") if len(w) > 1 else w
        w = _GLIDE.sub(lambda m: "u" if m.group(1) in "vw" else "", w)   # "power" ~ पावर ~ পাওয়ার
        if w[:2] in ("yu", "iu", "ye", "yi"):
            w = w[1:]                      # "யூனி", "ইউনি" for English "uni…"
        w = w.translate(_MERGE)
        # ya-phala after a consonant is a vowel colour ("জোম্যাটো" jomyato = zomato); e/a and o/u are confused
        w = "".join(ch for k, ch in enumerate(w) if not (ch == "y" and 0 < k and w[k - 1] not in "aeiou"))
        w = w.replace("e", "a").replace("o", "u")
        dedup = [w[0]]
        for ch in w[1:]:
            if ch != dedup[-1]:
                dedup.append(ch)
        w = "".join(dedup)
        if w.endswith("ar") and len(w) > 3:
            w = w[:-2] + "ir"              # -er / -ar / -ir endings
        words.append(w)
    return " ".join(words)


# How letters are named aloud (English letter names as Indians say and write them in any script).
_LETTER_NAMES: Mapping[str, tuple[str, ...]] = {
    "a": ("e", "ae", "ay", "ey", "ei"), "b": ("bi", "bee"), "c": ("si", "see", "ji"), "d": ("di", "dee"),
    "e": ("i", "ee"), "f": ("ef", "eph", "eff", "yef", "ep"), "g": ("ji", "jee", "gee"),
    "h": ("ech", "eich", "hech", "aich", "ej", "hej", "eij", "heich"), "i": ("ai", "aai", "aay", "ay"),
    "j": ("je", "jay", "jai"), "k": ("ke", "kay", "kai", "ki"), "l": ("el", "yel", "ell"), "m": ("em", "yem"),
    "n": ("en", "yen"), "o": ("o", "oh"), "p": ("pi", "pee"), "q": ("kyu", "kiu"), "r": ("ar", "aar", "ara"),
    "s": ("es", "yes", "ess", "is", "eas"), "t": ("ti", "tee", "te"), "u": ("yu", "you", "u"),
    "v": ("vi", "ve", "wi", "bhi"), "w": ("dablu", "dabalyu", "dabliu", "dabalu", "dablyu"),
    "x": ("eks", "ex"), "y": ("vai", "wai", "way"), "z": ("jed", "zed", "zet"),
}
_CONNECTORS = frozenset({"and", "&", "ent", "ant", "end", "anj", "ani"})


def _letter_key(word: str) -> str:
    """A letter name's key: romanized, no h, voicing merged, vowel length folded."""
    w = "".join(ch for ch in word.lower() if ch.isalpha())
    w = w.replace("h", "").translate(_MERGE)
    w = w.replace("ee", "i").replace("aa", "a")
    return "".join(ch for i, ch in enumerate(w) if i == 0 or ch != w[i - 1])


def _letter_table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for letter, names in _LETTER_NAMES.items():
        for name in names:
            table.setdefault(_letter_key(name), set()).add(letter)
    return {k: frozenset(v) for k, v in table.items()}


@dataclass(frozen=True, slots=True)
class NameHit:
    start: int
    end: int
    kind: str            # sym | amb | ext (a company not listed on NSE)
    value: object        # symbol, candidate tuple, or display name


@dataclass
class NameIndex:
    """Phonetic keys of every Latin company name, and the acronyms spelled letter by letter."""

    keys: dict[str, tuple[str, object]]                         # phonetic key → (kind, value)
    by_words: dict[tuple[int, str], list[str]]     # keys by word count and first consonant, for rapidfuzz
    acronyms: Mapping[Key, tuple[str, object]]                  # lexicon key of letters → (kind, value)
    letters: dict[str, frozenset[str]] = field(default_factory=_letter_table)
    vocabulary: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()     # phonetic keys of brand names, matched even in everyday words

    @classmethod
    def build(cls, names: Iterable[tuple[Key, str, object]], *, vocabulary: Iterable[str] = (),
              popular: frozenset[str] = frozenset(), brands: Iterable[Key] = (),
              spelled: Iterable[tuple[Key, str, object]] = ()) -> NameIndex:
        """``names``: (lexicon key, kind, value) for every Latin name in the lexicon. Close (not identical)
        sounds are matched only to ``popular`` companies and to the not-listed names: with 2,400 names, a
        near miss on a small company is more often an ordinary word."""
        keys: dict[str, tuple[str, object]] = {}
        clash: dict[str, set[object]] = {}
        acronyms: dict[Key, tuple[str, object]] = {}
        for key, kind, value in spelled:
            letters = "".join(t for t in key if t != "&")
            if letters.isascii() and letters.isalpha() and 2 <= len(letters) <= 6 and (
                    len(key) == 1 or "&" in key or all(len(t) == 1 for t in key)):
                acronyms[key] = (kind, value)
        for key, kind, value in names:
            text = " ".join(key)
            if not text.isascii():
                continue
            if kind != "ext" and not _pronounceable(text.replace(" ", "")):
                continue
            pk = phonetic(text, english=True)
            if len(pk.replace(" ", "")) < 4:
                continue
            if pk in keys and keys[pk] != (kind, value):
                clash.setdefault(pk, {keys[pk][1]}).add(value)
            keys.setdefault(pk, (kind, value))
        for pk, values in clash.items():
            syms = sorted({s for v in values for s in (v if isinstance(v, tuple) else (v,))})
            if keys[pk][0] != "ext":
                keys[pk] = ("amb", tuple(syms))
        by_words: dict[tuple[int, str], list[str]] = {}
        for pk, (kind, value) in keys.items():
            if kind == "ext" or (value in popular if kind == "sym" else any(v in popular for v in value)):
                by_words.setdefault(_bucket(pk), []).append(pk)
        strong = frozenset(pk for pk in (phonetic(" ".join(k), english=True) for k in brands)
                           if len(pk.replace(" ", "")) >= 5 and pk in keys)
        return cls(keys=keys, by_words=by_words, acronyms=acronyms, vocabulary=frozenset(vocabulary),
                   brands=strong)

    # ------------------------------------------------------------------------------------------ lookup
    def phonetic_match(self, words: str, *, brands_only: bool = False) -> tuple[str, object] | None:
        """A company for romanized words: the same key, or a close one (rapidfuzz ratio). ``brands_only``:
        only a brand name ("ज़ोमैटो" is an everyday word in "ज़ोमैटो से खाना मंगाओ", and still Zomato)."""
        pk = phonetic(words)
        size = len(pk.replace(" ", ""))
        if size < 4 or (" " not in pk and size < 6 and self.keys.get(pk, ("",))[0] != "ext"):
            return None   # one short word ("विचार" ~ pfizer) sounds like too many names; brands ("टेस्ला") may
        found = pk if pk in self.keys else self._closest(pk)
        if found is None or (brands_only and found not in self.brands):
            return None
        return self.keys[found]

    @lru_cache(maxsize=8192)  # noqa: B019 - one index per process; words repeat across messages
    def _closest(self, pk: str) -> str | None:
        choices = self.by_words.get(_bucket(pk))
        n = len(pk)
        if not choices or n < 6:
            return None
        from rapidfuzz import fuzz, process

        cutoff = 92 if n < 8 else 86 if n < 10 else 82
        best = process.extractOne(pk, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
        return best[0] if best else None

    def __hash__(self) -> int:
        return id(self)

    def letters_at(self, toks: list[str], i: int) -> NameHit | None:
        """An acronym spelled letter by letter from token i ("एच डी एफ सी", "h d f c", "எல் அண்ட் டி")."""
        options: list[frozenset[str]] = []
        j = i
        while j < len(toks) and len(options) < 8:
            tok = toks[j]
            if tok.isascii() and len(tok) == 1 and tok.isalpha():
                options.append(frozenset(tok))
            elif tok == "&" or (options and _letter_key(romanize(tok)) in _CONNECTORS):
                options.append(frozenset("&"))
            elif not tok.isascii() and not tok[0].isdigit():
                found = self.letters.get(_letter_key(romanize(tok)))
                if not found:
                    if not options:
                        return self._glued(tok, i)
                    break
                options.append(found)
            else:
                break
            j += 1
        while options and "&" in options[-1]:
            options.pop()
        for size in range(len(options), 1, -1):
            spelled = self._spelled(options[:size])
            if spelled is None:
                continue
            if size == 2 and any(t in self.vocabulary for t in toks[i:i + size]):
                continue   # two common words ("की दी") are not a safe acronym
            return self._with_next(toks, i, i + size, spelled)
        return None

    def _with_next(self, toks: list[str], i: int, end: int, spelled: tuple[str, object]) -> NameHit:
        """"ஹெச். டி. எஃப். சி. பேங்க்": the spelled letters and the next word may name one company."""
        kind, value = spelled
        if kind == "amb" and end < len(toks) and not toks[end][0].isdigit():
            nxt = phonetic(romanize(toks[end]))
            if len(nxt) >= 3:
                from rapidfuzz import fuzz

                for sym in value:   # type: ignore[union-attr]
                    for pk, hit in self._by_symbol.get(sym, ()):
                        words = pk.split(" ")
                        if len(words) == 2 and fuzz.ratio(words[1], nxt) >= 75:
                            return NameHit(i, end + 1, *hit)
        return NameHit(i, end, kind, value)

    @property
    def _by_symbol(self) -> dict[object, list[tuple[str, tuple[str, object]]]]:
        cached = self.__dict__.get("_sym_keys")
        if cached is None:
            cached = {}
            for pk, hit in self.keys.items():
                if hit[0] == "sym":
                    cached.setdefault(hit[1], []).append((pk, hit))
            self.__dict__["_sym_keys"] = cached
        return cached

    def _glued(self, tok: str, i: int) -> NameHit | None:
        """Letter names written as one word ("एमआरएफ", "ஹெச்டிஎஃப்சி"): every way of cutting the word into
        letter names, the first that spells a known name."""
        if tok in self.vocabulary or len(tok) < 3:
            return None
        key = _letter_key(romanize(tok))
        cuts: list[list[frozenset[str]]] = []

        def walk(pos: int, acc: list[frozenset[str]]) -> None:
            if len(cuts) >= 32 or len(acc) > 6:
                return
            if pos == len(key):
                if len(acc) >= 2:
                    cuts.append(list(acc))
                return
            for end in range(min(len(key), pos + 7), pos, -1):
                found = self.letters.get(key[pos:end])
                if found:
                    acc.append(found)
                    walk(end, acc)
                    acc.pop()

        walk(0, [])
        for options in cuts:
            spelled = self._spelled(options)
            if spelled is not None:
                return NameHit(i, i + 1, *spelled)
        return None

    def _known_stem(self, tok: str) -> bool:
        """A known word with a case ending glued on ("শেয়ারের" is শেয়ার +ের): not a name."""
        return any(tok[:-cut] in self.vocabulary for cut in range(1, min(4, len(tok) - 3) + 1))

    def _spelled(self, options: list[frozenset[str]]) -> tuple[str, object] | None:
        if sum(1 for o in options if "&" not in o) < 2:
            return None
        combos = 1
        for o in options:
            combos *= len(o)
        if combos > 512:
            return None
        found: dict[object, tuple[str, object]] = {}
        for letters in product(*(sorted(o) for o in options)):
            word = "".join(letters)
            key: Key = tuple(word.replace("&", " & ").split()) if "&" in word else (word,)
            hit = self.acronyms.get(key)
            if hit is not None:
                found[str(hit[1])] = hit
        if len(found) == 1:
            return next(iter(found.values()))
        if len(found) > 1:
            syms = sorted({s for _, v in found.values() for s in (v if isinstance(v, tuple) else (v,))})
            return ("amb", tuple(syms))
        return None

    def match(self, toks: list[str], i: int, max_words: int = 3) -> NameHit | None:
        """A company named by Indic-script words at token i: spelled letters, then the longest phonetic match."""
        tok = toks[i]
        if tok[0].isdigit():
            return None
        spelled = self.letters_at(toks, i)
        if spelled is not None:
            return spelled
        if tok.isascii() or len(tok) < 3:
            return None
        everyday = tok in self.vocabulary or self._known_stem(tok)
        if everyday and not self.brands:
            return None
        end = i
        while end < len(toks) and end - i < max_words and not toks[end].isascii() and not toks[end][0].isdigit():
            end += 1
        for stop in range(end, i, -1):
            words = toks[i:stop]
            if stop - i > 1 and words[-1] in self.vocabulary:
                continue
            hit = self.phonetic_match(" ".join(romanize(w) for w in words), brands_only=everyday)
            if hit is None and len(words[-1]) > 4 and not everyday:
                # A case ending glued on ("யூனிலீவரின்", "ইউনিলিভারের"): try the word without its last letters.
                for cut in (2, 3, 4):
                    stem = words[-1][:-cut]
                    hit = self.phonetic_match(" ".join([*(romanize(w) for w in words[:-1]), romanize(stem)]))
                    if hit is not None:
                        break
            if hit is not None:
                kind, value = hit
                return NameHit(i, stop, kind, value)
        return None


_VOWELS = frozenset("aeiouy")
_SIBILANTS = str.maketrans({"s": "j", "c": "j", "z": "j"})


def _bucket(pk: str) -> tuple[int, str]:
    """Word count and first consonant class: a name is only compared with names that start alike."""
    first = next((ch for ch in pk if ch not in _VOWELS and ch != " "), "")
    return pk.count(" ") + 1, first.translate(_SIBILANTS)


def _pronounceable(word: str) -> bool:
    """Whether a Latin name is said as a word (it has vowels in a word-like proportion), not letter by letter."""
    if len(word) < 4:
        return False
    vowels = sum(ch in _VOWELS for ch in word)
    return vowels >= 1 and vowels / len(word) >= 0.25
