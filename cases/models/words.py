"""Word search over a case's name and description, through the database's own full-text index
(SQLite: the FTS5 table cases_case_fts, kept by triggers; PostgreSQL: the stored tsvector
column ``search_words`` with its GIN index), and how a search box is read."""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import Q

from cases.models.sql import ColumnsSQL

REF_ID_RE = re.compile(r"CS\d+", re.IGNORECASE)
KORE_ID_RE = re.compile(r"ci-[A-Za-z0-9-]+")
PHONE_RE = re.compile(r"\+?[\d\s().-]{6,40}")
WORD_RE = re.compile(r"\w+", re.UNICODE)

SQLITE_WORD_IDS = "SELECT rowid FROM cases_case_fts WHERE cases_case_fts MATCH %s"
# PostgreSQL: matched by the operator the GIN index serves, or by the function behind it when
# another index is walked (see cases/browse/search.py).
POSTGRES_QUERY = "plainto_tsquery('simple'::regconfig, %s)"
POSTGRES_WORDS = "{table}.search_words @@ " + POSTGRES_QUERY
POSTGRES_WORDS_WALKED = "ts_match_vq({table}.search_words, " + POSTGRES_QUERY + ")"


def search_kind(q: str) -> str:
    """How a search text is read: ``ref_id``, ``kore_id``, ``email``, ``phone`` or ``words``."""
    if REF_ID_RE.fullmatch(q):
        return "ref_id"
    if KORE_ID_RE.fullmatch(q):
        return "kore_id"
    if "@" in q:
        return "email"
    if PHONE_RE.fullmatch(q) and sum(ch.isdigit() for ch in q) >= 6:
        return "phone"
    return "words"


def search_words(q: str) -> list[str]:
    """The words of a word search (empty when the text is read another way)."""
    q = " ".join((q or "").split())
    return WORD_RE.findall(q) if q and search_kind(q) == "words" else []


def fts_match(words: list[str]) -> str:
    """An FTS5 query for every word, each quoted (so no word is read as an operator)."""
    return " ".join('"{}"'.format(word.replace('"', '""')) for word in words)


def every_word(words: list[str]) -> Q | ColumnsSQL:
    """A condition: every word in the name or description, read from the full-text index."""
    if connection.vendor == "sqlite":
        return ColumnsSQL("{id} IN (" + SQLITE_WORD_IDS + ")", (fts_match(words),), id="id")
    if connection.vendor == "postgresql":
        return ColumnsSQL(POSTGRES_WORDS, (" ".join(words),), id="id")
    condition = Q()
    for word in words:  # other databases: correct, without an index
        condition &= Q(name__icontains=word) | Q(desc__icontains=word)
    return condition
