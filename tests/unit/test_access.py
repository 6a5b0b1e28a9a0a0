"""Roles: who may do what, the roles file, and the reasons a refusal gives."""

from __future__ import annotations

import getpass

import pytest

from routing_core.platform.errors import UserError
from routing_core.users.access import (
    ACTIONS,
    ROLES,
    Forbidden,
    User,
    load_roles,
    local_user,
    require,
    why_not,
)

VIEWER = User("vera@plant.example", "viewer")
ANALYST = User("ana@plant.example", "analyst")
ADMIN = User("adam@plant.example", "admin")


def test_each_role_has_the_rights_of_those_before_it():
    allowed = {u.role: {a for a in ACTIONS if why_not(u, a) is None} for u in (VIEWER, ANALYST, ADMIN)}
    assert allowed["viewer"] == {"browse", "predict", "download"}
    assert allowed["analyst"] == allowed["viewer"] | {"upload", "train", "cancel_own", "read_database",
                                                       "accept", "export_database"}
    assert allowed["admin"] == set(ACTIONS)
    assert set(ACTIONS.values()) == set(ROLES)


def test_forbidden_names_who_what_and_the_role_needed():
    with pytest.raises(Forbidden) as caught:
        require(VIEWER, "train")
    text = str(caught.value)
    assert "vera@plant.example" in text and "viewer" in text and "start trainings" in text
    assert "analyst role" in text
    assert isinstance(caught.value, UserError) and caught.value.needed == "analyst"
    with pytest.raises(Forbidden, match="admin role"):
        require(ANALYST, "activate")
    require(ADMIN, "delete_version")  # no exception


def test_cancelling_another_users_job_needs_an_admin():
    assert why_not(ANALYST, "cancel_own", owner=ANALYST.name) is None
    reason = why_not(ANALYST, "cancel_own", owner="bob@plant.example")
    assert reason is not None and "bob@plant.example" in reason and "admin" in reason
    with pytest.raises(Forbidden, match=r"may not cancel another user's training \(started by bob@plant.example\)"):
        require(ANALYST, "cancel_own", owner="bob@plant.example")
    require(ADMIN, "cancel_own", owner="bob@plant.example")
    with pytest.raises(Forbidden, match="is a viewer and may not cancel trainings: that needs the analyst role"):
        require(VIEWER, "cancel_own", owner=VIEWER.name)


def test_no_user_is_nobody_and_the_local_user_is_named():
    me = local_user()
    assert me.role == "admin" and me.name == getpass.getuser()
    assert "needs a named user" in why_not(None, "browse")  # None never means the admin
    with pytest.raises(UserError, match="needs a named user"):
        require(None, "delete_dataset")
    require(me, "delete_dataset")


def test_unknown_roles_and_actions_are_refused():
    with pytest.raises(ValueError, match="Unknown role"):
        User("x", "superuser")
    with pytest.raises(ValueError, match="Unknown action"):
        why_not(ADMIN, "format_disk")


def test_roles_file_maps_users_and_groups(tmp_path, monkeypatch):
    path = tmp_path / "roles.toml"
    path.write_text('[users]\n"Ana@Plant.example" = "analyst"\n"boss@plant.example" = "admin"\n'
                    '[groups]\n"planners" = "analyst"\n"it-admins" = "admin"\n')
    book = load_roles(path)
    assert book.role_for("ana@plant.example") == "analyst"  # names compare without case
    assert book.role_for("boss@plant.example", ["planners"]) == "admin"
    assert book.role_for("new@plant.example", ["planners", "it-admins"]) == "admin"  # the highest group
    assert book.role_for("new@plant.example", ["planners"]) == "analyst"
    assert book.role_for("stranger@elsewhere.example") == "viewer"
    assert book.user("x@plant.example", ["planners"]) == User("x@plant.example", "analyst", ("planners",))
    monkeypatch.setenv("ROUTING_ROLES_FILE", str(path))
    assert load_roles().role_for("boss@plant.example") == "admin"


def test_roles_file_default_path_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.delenv("ROUTING_ROLES_FILE", raising=False)
    monkeypatch.setenv("ROUTING_DATA_HOME", str(tmp_path))
    assert load_roles().role_for("anyone") == "viewer"  # no file: everyone signed in is a viewer
    (tmp_path / "roles.toml").write_text('default = "analyst"\n[users]\n"a" = "admin"\n')
    book = load_roles()
    assert book.role_for("a") == "admin" and book.role_for("b") == "analyst"


@pytest.mark.parametrize("text, needle", [
    ('[users]\n"a" = "root"\n', "role 'root' is not one of"),
    ('[users\n', "not valid TOML"),
    ('users = "everyone"\n', "must be tables"),
    ('default = "owner"\n', "role 'owner'"),
])
def test_a_bad_roles_file_is_one_clear_message(tmp_path, text, needle):
    path = tmp_path / "roles.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=needle):
        load_roles(path)


def test_a_roles_file_that_is_a_link_is_not_followed(tmp_path):
    real = tmp_path / "real.toml"
    real.write_text('[users]\n"a" = "admin"\n')
    (tmp_path / "roles.toml").symlink_to(real)
    with pytest.raises(UserError, match="symbolic link"):
        load_roles(tmp_path / "roles.toml")
