"""The voice page: a small web page and JSON API served by the same process, on its own port."""
