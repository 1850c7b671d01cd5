"""Map layers, styles and exports built over `geo`."""
