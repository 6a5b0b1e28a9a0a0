"""Who may do what, and who did what.

- `access`: users, their three roles and the checks every state-changing function makes.
- `activity`: the append-only activity log of every change.
"""
