"""What the inbox bot reads in a customer's words and what it says, in the customer's language
(Russian or English, told by the script they write in; the texts are in the catalogs)."""

from __future__ import annotations

import re

from django.utils import translation
from django.utils.translation import gettext as _

from operators.suggestions import stems

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)


def language_of(text: str, default: str = "en") -> str:
    """Russian for Cyrillic, English for Latin letters, else ``default`` ("?", "👍")."""
    if _CYRILLIC.search(text):
        return "ru"
    return "en" if _LATIN.search(text) else default


def asks_for_person(text: str, keywords: list[str]) -> bool:
    """Whether the customer used one of the handoff keywords: a command (``/operator``, also
    as ``/operator@bot``) as the first word, any other keyword by its stems, so
    "оператора" or "humans" count too. A phrase counts when all of its words are there."""
    lowered = text.strip().lower()
    first = lowered.split(maxsplit=1)[0] if lowered else ""
    said = stems(text, keep_stopwords=True)
    for keyword in keywords:
        if keyword.startswith("/"):
            if first == keyword or first.startswith(f"{keyword}@"):
                return True
            continue
        wanted = stems(keyword, keep_stopwords=True)
        if wanted and wanted <= said:
            return True
    return False


def _keyword_for(language: str, keywords: list[str]) -> str | None:
    """The keyword to suggest: one written in the customer's script, else the first plain one."""
    plain = [k for k in keywords if not k.startswith("/")]
    for keyword in plain:
        if (language_of(keyword) == "ru") == (language == "ru"):
            return keyword
    return plain[0] if plain else (keywords[0] if keywords else None)


def how_to_reach_a_person(language: str, keywords: list[str]) -> str:
    keyword = _keyword_for(language, keywords)
    with translation.override(language):
        if keyword is None:
            return _("If I can't help, an operator will take over.")
        return _("If this doesn't help, write “%(keyword)s” and a person will take over.") % {
            "keyword": keyword
        }


def answer_text(answer: str, *, language: str, keywords: list[str]) -> str:
    return f"{answer}\n\n{how_to_reach_a_person(language, keywords)}"


def prompt_text(*, language: str, keywords: list[str]) -> str:
    """The bot's reply to words it can look nothing up for ("hello", "?")."""
    with translation.override(language):
        lead = _("I'm the automatic assistant: ask your question in a few words.")
    return f"{lead} {how_to_reach_a_person(language, keywords)}"


def passing_on_text(language: str, *, unanswered: bool = False) -> str:
    """What the bot tells the customer when it hands the conversation to people (a message,
    not a system line, so that it also reaches a customer on a channel)."""
    with translation.override(language):
        passing = _("I'm passing the conversation to an operator: a person will reply here.")
        if unanswered:
            return _("I couldn't find an answer to that.") + " " + passing
        return passing


def last_answer_text(answer: str, *, language: str) -> str:
    """The bot's second answer, after which people take over."""
    with translation.override(language):
        return f"{answer}\n\n" + _("An operator will join the conversation.")
