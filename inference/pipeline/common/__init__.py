"""Steps every photo takes: decode -> quality gate -> route, and the drawing of the answer."""
