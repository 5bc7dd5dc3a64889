"""Widgets and screens of the happo-top monitor."""
