"""Who may do what (docs/design.md, 'Reliability and security'): three roles, each with the rights of those before it.

| role | may |
|---|---|
| viewer | browse, predict, download |
| analyst | also upload datasets, train, cancel their own jobs, accept routings, export to a database |
| admin | also activate and delete versions, delete datasets, clear caches, cancel any job |

A signed-in user's role comes from a small roles file (TOML) mapping users and groups to roles:

```toml
default = "viewer"            # optional: the role of a signed-in user the file does not name
[users]
"ana@plant.example" = "analyst"
[groups]
"routing-admins" = "admin"
```
Its path is `$ROUTING_ROLES_FILE`, else `<data home>/roles.toml`; without the file every
signed-in user is a viewer. Without sign-in the studio serves one person, `local_user()`: the
OS user, an admin (what the command line passes too, by name). The core refuses what a role may
not do with `Forbidden`, and any change without a named user (`user=None` is nobody, never the
admin); the pages only show the same answer (`why_not`) before anyone tries.

Database connections are read by analysts and admins (`read_database`); the roles file may
narrow which connections each role may use (`[connections]`, role = list of names, "*" for all;
a role it does not name may use every connection its rank allows):

```toml
[connections]
analyst = ["sample", "erp"]
admin = ["*"]
```
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from routing_core.platform.errors import UserError
from routing_core.platform.settings import env_name, setting

ROLES = ("viewer", "analyst", "admin")
ACTIONS: dict[str, str] = {
    "browse": "viewer",
    "predict": "viewer",
    "download": "viewer",
    "upload": "analyst",
    "train": "analyst",
    "cancel_own": "analyst",
    "read_database": "analyst",
    "accept": "analyst",
    "export_database": "analyst",
    "activate": "admin",
    "delete_version": "admin",
    "delete_dataset": "admin",
    "clear_cache": "admin",
    "cancel_any": "admin",
}
# What each action is called in a message ("… may not <this>").
DOING: dict[str, str] = {
    "browse": "browse the studio",
    "predict": "predict routings",
    "download": "download files",
    "upload": "store datasets",
    "train": "start trainings",
    "cancel_own": "cancel trainings",
    "read_database": "read a database",
    "accept": "accept, correct or withdraw routings",
    "export_database": "write routings to a database",
    "activate": "make a model version active",
    "delete_version": "delete model versions",
    "delete_dataset": "delete datasets",
    "clear_cache": "clear the caches",
    "cancel_any": "cancel another user's training",
}
ROLES_FILE = "roles.toml"
ROLES_ENV = env_name("roles_file")
MAX_ROLES_BYTES = 1 << 20

RoutingError = UserError  # the error type every refusal of the core derives from


@dataclass(frozen=True)
class User:
    """Someone acting on the studio: the name the activity log shows, a role, their groups."""

    name: str
    role: str
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Unknown role {self.role!r}; roles are {', '.join(ROLES)}.")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("A user needs a name.")
        object.__setattr__(self, "groups", tuple(self.groups))


class Forbidden(RoutingError):
    """A user tried what their role may not do; the message says who, what and the role it needs."""

    def __init__(self, user: User, action: str, needed: str, message: str) -> None:
        super().__init__(message)
        self.user, self.action, self.needed = user, action, needed


def rank(role: str) -> int:
    """The place of a role in ROLES (viewer 0, analyst 1, admin 2)."""
    return ROLES.index(role)


def _check_role(role: object, where: str) -> str:
    if role not in ROLES:
        raise UserError(f"{where}: role {str(role)[:40]!r} is not one of {', '.join(ROLES)}.")
    return role  # type: ignore[return-value]


@dataclass
class RoleBook:
    """Users and groups mapped to roles; names compare without regard to case."""

    users: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    default: str = "viewer"
    path: Path | None = None
    connections: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"The roles file {self.path}" if self.path else "The roles"
        self.default = _check_role(self.default, where)
        allowed: dict[str, tuple[str, ...]] = {}
        for role, names in dict(self.connections).items():
            _check_role(role, f"{where}, [connections]")
            if isinstance(names, str) or not isinstance(names, list | tuple) or not all(
                    isinstance(n, str) for n in names):
                raise UserError(f"{where}, [connections]: {role} must be a list of connection names.")
            allowed[role] = tuple(n.strip() for n in names)
        self.connections = allowed
        self.users = {str(k).strip().lower(): _check_role(v, f"{where}, user {k}") for k, v in self.users.items()}
        self.groups = {str(k).strip().lower(): _check_role(v, f"{where}, group {k}") for k, v in self.groups.items()}

    def role_for(self, name: str, groups: Iterable[str] = ()) -> str:
        """The role of a signed-in user: theirs by name, else the highest of their groups', else the
        default (viewer)."""
        own = self.users.get(str(name).strip().lower())
        if own is not None:
            return own
        found = [self.groups[g] for g in (str(g).strip().lower() for g in groups or ()) if g in self.groups]
        return max(found, key=rank) if found else self.default

    def may_use_connection(self, user: User, name: str) -> str | None:
        """None when `user` may read connection `name`, else the reason."""
        reason = why_not(user, "read_database")
        if reason is not None:
            return reason
        allowed = self.connections.get(user.role)
        if allowed is None or "*" in allowed or name in allowed:
            return None
        return (f"{user.name} is a {user.role}, and the roles file lets that role read only "
                f"{', '.join(allowed) or 'no connection'} (not '{name}').")

    def user(self, name: str, groups: Iterable[str] = ()) -> User:
        """A User of this name and groups with the role this book gives them."""
        groups = tuple(str(g) for g in groups or ())
        return User(name=name, role=self.role_for(name, groups), groups=groups)


def roles_path(path: str | os.PathLike | None = None) -> Path:
    """The roles file: `path`, else $ROUTING_ROLES_FILE, else <data home>/roles.toml."""
    if path is not None and str(path):
        return Path(path)
    env = setting("roles_file")
    if env is not None:
        return env
    return setting("data_home") / ROLES_FILE


def load_roles(path: str | os.PathLike | None = None) -> RoleBook:
    """The roles file read (an empty book, everyone a viewer, when there is none); UserError when it
    is not a small regular TOML file of users and groups mapped to known roles."""
    from routing_core.platform.statefile import read_bytes

    where = roles_path(path)
    try:
        raw = read_bytes(where, "The roles file", max_bytes=MAX_ROLES_BYTES)
    except FileNotFoundError:
        return RoleBook(path=where)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"The roles file {where} is not valid TOML ({exc}).") from None
    users, groups = data.get("users", {}), data.get("groups", {})
    allowed = data.get("connections", {})
    if not isinstance(users, Mapping) or not isinstance(groups, Mapping) or not isinstance(allowed, Mapping):
        raise UserError(f"The roles file {where}: [users] and [groups] must be tables of name = role, "
                        "[connections] a table of role = [connection names].")
    return RoleBook(users=dict(users), groups=dict(groups), default=data.get("default", "viewer"), path=where,
                    connections=dict(allowed))


def _os_user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return f"uid {os.getuid()}"


def local_user() -> User:
    """The OS user, an admin: the studio without sign-in serves one person, and the command line."""
    return User(name=_os_user_name(), role="admin")


def _needed(action: str) -> str:
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"Unknown action {action!r}; actions are {', '.join(ACTIONS)}.") from None


def _effective(user: User, action: str, owner: str | None) -> str:
    """`cancel_own` of a job someone else owns is `cancel_any`."""
    if action == "cancel_own" and owner is not None and owner != user.name:
        return "cancel_any"
    return action


NO_USER = ("This change needs a named user, and none was given: nothing was changed "
           "(the command line acts as the OS user, the dashboard as the signed-in user).")


def why_not(user: User | None, action: str, owner: str | None = None) -> str | None:
    """None when `user` may do `action`, else the reason, for a disabled button (None: nobody, who
    may do nothing).

    `owner`: for cancelling, who started the job (cancelling another's needs an admin)."""
    if not isinstance(user, User):
        return NO_USER
    action = _effective(user, action, owner)
    needed = _needed(action)
    if rank(user.role) >= rank(needed):
        return None
    whose = f" (started by {owner})" if action == "cancel_any" and owner else ""
    return (f"{user.name} is a {user.role} and may not {DOING[action]}{whose}: "
            f"that needs the {needed} role.")


def actor(user: object) -> User:
    """`user` when it is a User; UserError otherwise (no change happens without a named user)."""
    if not isinstance(user, User):
        raise UserError(NO_USER)
    return user


def require(user: User | None, action: str, owner: str | None = None) -> User:
    """Raise Forbidden unless `user` may do `action` (see why_not), UserError without a named user;
    returns the user."""
    who = actor(user)
    reason = why_not(who, action, owner)
    if reason is not None:
        raise Forbidden(who, _effective(who, action, owner), ACTIONS[_effective(who, action, owner)], reason)
    return who
