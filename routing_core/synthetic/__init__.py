"""Synthetic routing exports for the sample data, the tests and the benchmarks. Product code imports
it only for the bundled sample (database/sample_db.py, ui/loaders.py; tests/unit/test_imports.py).

- `sample`: the seeded sample generator (the dashboard's bundled data).
- `sample_plants`: the two plants the sample generator can export.
- `plants`: further plants with their own industries, column names and noise.
- `perturbation`: operation rows from routings, with a share turned into plant variants.
"""
