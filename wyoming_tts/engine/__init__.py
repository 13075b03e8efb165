"""Requests, segments and scheduling: no Wyoming, no torch."""
