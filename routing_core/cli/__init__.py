"""The command line, `python -m routing_core COMMAND …` (docs/design.md, 'Command line').

- `commands`: the parser, the core verbs (stats, train, jobs, predict, …) and `main`.
- `common`: what the verb modules share: the command table, the --map option, JSON output.
- `database`: the database verbs (connections, fetch, refresh).
- `accepted`: the routing store's verbs (accept, accepted).
"""
