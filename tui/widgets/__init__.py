"""The app's own widgets (the timeline itself lives in ``coffeeshop_tui.tui.timeline_view``)."""
