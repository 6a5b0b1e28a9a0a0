"""How good a model is: holdout evaluation, baselines, head-to-head comparison, figures' provenance.

- `evaluation`: metrics of a model on held-out items and the baselines it must beat.
- `holdout`: which items are held out (random, or the newest by a date column).
- `compare`: versions head to head on the same items, with paired bootstrap intervals.
- `shared_holdout`: versions fitted again on one shared training share, so the comparison is fair.
- `provenance`: the commit and model-code hash a benchmark document carries.
"""
