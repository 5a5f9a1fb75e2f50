"""The publishing pipeline: execute chapters, cache, build the HTML, command line.

Depends on the rest of the package; nothing in the mathematics imports it.
"""
