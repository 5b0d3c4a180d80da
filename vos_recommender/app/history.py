"""Undo and redo of a session's changes: strokes, mask edits and whole rounds.

The history is a pair of stacks of *mementos*: before a change, the parts of the session the change
touches are captured (:meth:`~vos_recommender.app.state.SessionState.memento`: one frame's draft strokes,
the masks, the frames edited since the last round, the rounds, quality and recommendation) and pushed on
the undo stack; the redo stack is emptied. Undo pops a memento, captures the same parts of the session as
it is now onto the redo stack, and puts the memento back; redo does the reverse. Because undo and redo
always start from the state right after the change they reverse, one side of each change is enough.

Mementos are JSON and name masks and round files instead of holding arrays; every change saves the
session first, so the files they name are on disk, and the session keeps every file its history names
(:meth:`SessionHistory.files`). The history is saved in ``session.json``, so undo and redo survive a reload
and a restart. It holds at most :data:`MAX_UNDO` changes; deleting an object clears it (earlier mementos
name object ids that no longer mean the same objects).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["MAX_UNDO", "HistoryEntry", "SessionHistory"]

#: Changes that can be undone (the oldest are forgotten first).
MAX_UNDO = 100
# Memento keys that name files of the session folder.
_FILE_KEYS = ("masks_file", "file", "annotations_file")

#: A memento: ``{"label": what the change did, "parts": {part name: saved value}}``.
HistoryEntry = dict[str, Any]


def _named_files(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value[k] for k in _FILE_KEYS if isinstance(value.get(k), str)}
        for item in value.values():
            found |= _named_files(item)
        return found
    if isinstance(value, list):
        return set().union(*(_named_files(item) for item in value)) if value else set()
    return set()


class SessionHistory:
    """The undo and redo stacks of a session.

    Attributes:
        undo_stack: Mementos to go back to, oldest first.
        redo_stack: Mementos undone changes lead to, the next redo last.
    """

    def __init__(
        self, undo: list[HistoryEntry] | None = None, redo: list[HistoryEntry] | None = None
    ) -> None:
        self.undo_stack: list[HistoryEntry] = list(undo or [])
        self.redo_stack: list[HistoryEntry] = list(redo or [])

    def record(self, label: str, parts: dict[str, Any]) -> None:
        """A change is about to be made: remember ``parts`` (the memento from before it) as undoable."""
        self.undo_stack.append({"label": label, "parts": copy.deepcopy(parts)})
        del self.undo_stack[:-MAX_UNDO]
        self.redo_stack.clear()

    def pop_undo(self) -> HistoryEntry | None:
        """The memento the last change left, removed from the undo stack; None when there is none."""
        return self.undo_stack.pop() if self.undo_stack else None

    def pop_redo(self) -> HistoryEntry | None:
        """The memento of the last undone change, removed from the redo stack; None when there is none."""
        return self.redo_stack.pop() if self.redo_stack else None

    def push_redo(self, label: str, parts: dict[str, Any]) -> None:
        """After an undo: ``parts`` is the session as it was before the undo."""
        self.redo_stack.append({"label": label, "parts": parts})

    def push_undo(self, label: str, parts: dict[str, Any]) -> None:
        """After a redo: ``parts`` is the session as it was before the redo (the redo stack stays)."""
        self.undo_stack.append({"label": label, "parts": parts})
        del self.undo_stack[:-MAX_UNDO]

    def clear(self) -> None:
        """Forget every change (nothing can be undone or redone)."""
        self.undo_stack.clear()
        self.redo_stack.clear()

    def files(self) -> set[str]:
        """The files of the session folder the mementos name (the session keeps them)."""
        return _named_files(self.undo_stack) | _named_files(self.redo_stack)

    def summary(self) -> dict[str, Any]:
        """What the page shows: the labels of the next undo and redo and the stack sizes."""
        return {
            "undo": self.undo_stack[-1]["label"] if self.undo_stack else None,
            "redo": self.redo_stack[-1]["label"] if self.redo_stack else None,
            "undo_count": len(self.undo_stack),
            "redo_count": len(self.redo_stack),
        }

    def to_json(self) -> dict[str, Any]:
        """The history as saved in ``session.json``."""
        return {"undo": self.undo_stack, "redo": self.redo_stack}

    @classmethod
    def from_json(cls, data: Any) -> SessionHistory:
        """Read :meth:`to_json`'s output (None or a missing entry: an empty history).

        Raises:
            ValueError: If ``data`` is not a saved history.
        """
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"history must be an object, got {type(data).__name__}")
        stacks = data.get("undo", []), data.get("redo", [])
        for stack in stacks:
            if not isinstance(stack, list) or not all(
                isinstance(e, dict) and isinstance(e.get("label"), str) and isinstance(e.get("parts"), dict)
                for e in stack
            ):
                raise ValueError("history stacks must be lists of {'label': str, 'parts': object}")
        return cls(*stacks)
