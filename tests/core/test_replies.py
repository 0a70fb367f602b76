from __future__ import annotations

import pytest

from handlers.replies import (Button, Buttons, ListReply, ListRow, Text, reply_to_trace, split_text, texts)


def test_button_titles_are_shortened_to_20_chars_with_an_ellipsis():
    b = Button("confirm:1:abc", "Confirm this order right now")
    assert len(b.title) <= 20 and b.title.endswith("…")


def test_more_than_three_buttons_or_duplicate_titles_are_refused():
    with pytest.raises(ValueError):
        Buttons("x", tuple(Button(f"b{i}", f"B{i}") for i in range(4)))
    with pytest.raises(ValueError):
        Buttons("x", (Button("a", "Same"), Button("b", "Same")))


def test_lists_hold_at_most_ten_rows_with_24_char_titles():
    rows = tuple(ListRow(f"r{i}", f"A rather long row title number {i}") for i in range(10))
    lst = ListReply("body", "Menu", rows)
    assert all(len(r.title) <= 24 for r in lst.rows)
    with pytest.raises(ValueError):
        ListReply("body", "Menu", rows + (ListRow("r10", "one too many"),))


def test_long_bodies_split_cleanly_at_word_boundaries():
    body = ("शेयर बाज़ार " * 800).strip()
    chunks = split_text(body)
    assert all(len(c) <= 4096 for c in chunks) and len(chunks) >= 2
    assert " ".join(chunks).split() == body.split()
    assert [t.body for t in texts(body)] == chunks
    with pytest.raises(ValueError):
        Text("x" * 5000)


def test_trace_shape_of_buttons():
    trace = reply_to_trace(Buttons("Confirm?", (Button("confirm:o1:n", "Confirm"), Button("cancel:o1:n", "Cancel"))))
    assert trace == {"type": "buttons", "text": "Confirm?", "buttons": [
        {"id": "confirm:o1:n", "title": "Confirm"}, {"id": "cancel:o1:n", "title": "Cancel"}]}
