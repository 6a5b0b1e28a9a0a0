"""What every other package stands on: no routing knowledge here.

- `errors`: `UserError`, the one exception a user can cause; pages and the CLI show its text as is.
- `names`: names users give to datasets and versions (they become folder names).
- `atomic`: writes a reader sees whole or not at all.
- `statefile`: the safe reader of the studio's state files (no symlinks or FIFOs, size and depth limits).
- `sharing`: folders shared by several accounts and hosts (group rights, locks, this host's id).
- `settings`: every ROUTING_* environment variable (type, default, unit, why), read when used.
- `limits`: how much one file, one state file and one training may take.
- `memory`: a training's memory (peak measured, worker limit) and returning freed memory.
- `formatting`: how shares, differences and numbers are rounded and written, everywhere.
- `export`: CSV cells a spreadsheet opens as data, never as formulas.
"""
