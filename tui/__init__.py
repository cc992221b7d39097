"""tracetui's reader side: the trace store and tailer (pure Python) and the Textual viewer.

Importing this package loads nothing heavy; the viewer lives in `tui.app`, imported only by `watch`.
"""
