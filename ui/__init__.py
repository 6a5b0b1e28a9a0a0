"""What the pages share: Streamlit helpers, and the few modules of logic only pages use.

- Every page: `frame` (page config, first start, navigation, sidebar), `nav` (the pages in menu
  order), `sidebar`, `auth` (who is signed in), `guard` (what they may not do), `empty` (empty
  states), `loaders` (cached access to the stores), `held` (what a session has decoded, released
  when its tab closes), `text` (user text inside Markdown), `metrics`, `units` (the unit of time).
- One page each: `mapping_editor`, `review`, `database_source` and `missing_view` (Upload, Dataset),
  `train_jobs` (Train), `compare_view` and `history` (Models), `accept_view` and `routing_editor`
  (Predict).
- Logic without widgets, unit-tested: `charts` (Plotly figures), `summary` (batch summaries and
  reference items for Predict), `first_start` (the sample's first training, for Start).

Pages import `ui` and `routing_core`; `ui` imports `routing_core` and no page
(tests/unit/test_imports.py).
"""
