"""Textual widgets of the viewer: each renders part of the trace store, none reads files."""
