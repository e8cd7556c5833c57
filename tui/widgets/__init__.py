"""The app's own widgets (the timeline itself lives in ``tui.timeline_view``)."""
