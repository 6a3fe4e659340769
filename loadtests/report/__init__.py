"""HTML reports: one per run, a comparison of two runs, and an index of all runs.

Everything is built from ``results.json`` alone and written as a single self-contained
HTML file (styles, scripts, data and the charting library inlined).
"""
