"""Routing Studio's core: everything the dashboard and the command line do, without a widget.

One package per concern (docs/architecture.md); each package's `__init__` names its modules.

- `platform`: errors, names, settings, safe state files and their records, atomic writes, shared folders,
  limits, memory, number formats;
- `mapping`: the canonical schema and how a file's columns are mapped to it;
- `datasets`: files read into datasets, stored with their statistics;
- `database`: routings read from a database through named connections;
- `model`: the routing model (features, forest, experts, candidates, times);
- `scoring`: holdout evaluation, baselines, head-to-head comparison;
- `versions`: the model registry (versions, manifests, signatures);
- `engine`: training requests and jobs, the worker, the Dask cluster;
- `users`: roles and the activity log;
- `accepted`: accepted routings, output profiles and ERP exports;
- `cli`: the command line;
- `synthetic`: generated routing exports for the sample data, tests and benchmarks.

Layers (docs/architecture.md, 'Layout'; tests/unit/test_imports.py): platform, synthetic → mapping,
users → datasets → database, model → scoring → versions → engine, accepted → cli. A package
imports only packages of a layer before its own.
"""
