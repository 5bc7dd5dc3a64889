"""What run control raises: a refusal or failure meant for the user."""

from __future__ import annotations


class ActionError(Exception):
    """An action was refused or failed; the message is meant for the user."""


class ProcessGone(ActionError):
    """The target process no longer exists."""
