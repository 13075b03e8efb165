"""The Wyoming face: one connection's events, the hardened reader, the info event, zeroconf."""
