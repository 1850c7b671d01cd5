"""Headless chromium as the browser tests and the benchmark start it: Debian's binary, never a browser that a
tool downloads, and no background networking (the machine has no internet; such requests only fail)."""

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
