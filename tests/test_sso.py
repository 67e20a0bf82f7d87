"""Single sign-on: roles and units from the identity provider's groups, and one app session per sign-in there."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from assessment import access, audit, auth, sso, users
from assessment.errors import PermissionDenied, ValidationError
from assessment.storage import users as user_store

from .conftest import add_org

MAPPING = """
groups_claim: groups
username_claim: email
groups:
  itscm-admins: {role: administrator}
  itscm-leadership: {role: leadership}
  head-payments: {role: department_head, units: [U1]}
  head-cards: {role: department_head, units: [U2]}
  auditors-import: {role: auditor, can_import: true}
"""


@pytest.fixture
def mapping(tmp_path):
    p = tmp_path / "sso.yaml"
    p.write_text(MAPPING)
    return sso.load_mapping(p)


def test_head_groups_union_their_units(mapping):
    ident = sso.map_identity({"email": "Ann@Bank.example", "groups": ["head-payments", "head-cards"]}, mapping)
    assert (ident.username, ident.role, ident.units) == ("ann@bank.example", access.HEAD, ("U1", "U2"))


def test_most_powerful_role_wins(mapping):
    ident = sso.map_identity({"email": "b@x", "groups": ["head-cards", "itscm-leadership"]}, mapping)
    assert ident.role == access.LEADERSHIP and ident.units == ()


def test_no_matching_group_no_access(mapping):
    with pytest.raises(PermissionDenied, match="no group"):
        sso.map_identity({"email": "c@x", "groups": ["marketing"]}, mapping)
    with pytest.raises(PermissionDenied, match="email"):
        sso.map_identity({"groups": ["itscm-admins"]}, mapping)


def test_bad_mapping_file_lists_problems(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("groups:\n  a: {role: king}\n  b: {role: department_head}\n")
    with pytest.raises(ValidationError) as err:
        sso.load_mapping(p)
    assert "groups.a.role" in str(err.value) and "groups.b.units" in str(err.value)


def test_sync_creates_then_updates_and_session_reflects_it(db, mapping):
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 2)])
    sso.sync_user(db, sso.map_identity({"email": "ann@x", "groups": ["head-payments"]}, mapping))
    token = auth.create_session(db, "ann@x")
    assert auth.resolve(db, token).units == frozenset({"U1"})
    sso.sync_user(db, sso.map_identity({"email": "ann@x", "groups": ["head-cards"]}, mapping))
    assert auth.resolve(db, token).units == frozenset({"U2"})
    with pytest.raises(auth.LoginFailed):
        auth.login(db, "ann@x", "")  # SSO users have no local password


SECRET = "cookie-secret-of-the-test"
T0 = datetime(2026, 3, 2, 9, 0)
POLICY = auth.SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


def _claims(email: str, groups: list[str], nonce: str = "n-1", iat: int = 1_772_442_000) -> dict:
    """What st.user holds after a sign-in: the ID token's claims (iat and nonce change with every sign-in)."""
    return {"iss": "http://127.0.0.1:9400", "aud": "client-1", "sub": email.split("@")[0], "email": email,
            "groups": groups, "iat": iat, "nonce": nonce, "is_logged_in": True}


def _audit(db, action: str, user: str):
    return audit.entries(db, access.SYSTEM, user=user, action=action)


def test_one_sign_in_at_the_provider_opens_one_session_that_reloads_resume(db, mapping):
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 2)])
    claims = _claims("ann@x", ["head-payments"])
    token = sso.sign_in(db, claims, mapping, secret=SECRET, at=T0)
    actor = auth.resolve(db, token, POLICY, at=T0 + timedelta(minutes=5))
    assert (actor.username, actor.role, actor.units) == ("ann@x", access.HEAD, frozenset({"U1"}))
    # A reload arrives with the same identity cookie: the same session, not a second one.
    assert sso.sign_in(db, claims, mapping, secret=SECRET, at=T0 + timedelta(minutes=10)) == token
    assert _audit(db, "login", "ann@x").height == 1
    assert _audit(db, "user.create", "sso")["object_id"].to_list() == ["ann@x"]


def test_an_ended_session_stays_ended_until_the_next_sign_in_at_the_provider(db, mapping):
    add_org(db, [("U1", "D1", 1)])
    claims = _claims("ann@x", ["head-payments"])
    token = sso.sign_in(db, claims, mapping, secret=SECRET, at=T0)
    assert auth.resolve(db, token, POLICY, at=T0 + timedelta(minutes=31)) is None
    assert auth.session_end_reason(db, token) == "idle timeout"
    # Streamlit's cookie still holds the same identity: it must not open a new session.
    again = sso.sign_in(db, claims, mapping, secret=SECRET, at=T0 + timedelta(minutes=32))
    assert again == token and auth.resolve(db, again, POLICY, at=T0 + timedelta(minutes=32)) is None
    assert _audit(db, "login", "ann@x").height == 1
    # Signing in at the provider again (new nonce and iat) opens a new session.
    fresh = sso.sign_in(db, _claims("ann@x", ["head-payments"], nonce="n-2", iat=1_772_444_000), mapping,
                        secret=SECRET, at=T0 + timedelta(minutes=33))
    assert fresh != token and auth.resolve(db, fresh, POLICY, at=T0 + timedelta(minutes=34)).username == "ann@x"


def test_sign_out_ends_the_session_of_that_sign_in(db, mapping):
    claims = _claims("lea@x", ["itscm-leadership"])
    token = sso.sign_in(db, claims, mapping, secret=SECRET)
    auth.logout(db, token)
    assert auth.resolve(db, sso.sign_in(db, claims, mapping, secret=SECRET)) is None


def test_refusal_is_audited_and_creates_no_user(db, mapping):
    with pytest.raises(PermissionDenied, match="no role is mapped"):
        sso.sign_in(db, _claims("sam@x", ["staff", "marketing"]), mapping, secret=SECRET)
    with db.read() as cur:
        assert user_store.user(cur, "sam@x") is None
    refusal = _audit(db, "login.refused", "sam@x")
    assert refusal.height == 1
    assert json.loads(refusal["after_json"][0])["groups"] == ["staff", "marketing"]


def test_disabled_user_is_refused_although_the_groups_match(db, mapping):
    sso.sign_in(db, _claims("ann@x", ["itscm-leadership"]), mapping, secret=SECRET)
    users.update(db, access.SYSTEM, "ann@x", active=False)
    with pytest.raises(PermissionDenied, match="disabled"):
        sso.sign_in(db, _claims("ann@x", ["itscm-leadership"], nonce="n-2"), mapping, secret=SECRET)
    assert _audit(db, "login.refused", "ann@x").height == 1


def test_claims_the_app_cannot_use_are_refused(db, mapping):
    with pytest.raises(PermissionDenied, match="not a valid user name"):
        sso.sign_in(db, _claims("Ann Smith <ann@x>", ["itscm-leadership"]), mapping, secret=SECRET)
    no_iat = {k: v for k, v in _claims("ann@x", ["itscm-leadership"]).items() if k != "iat"}
    with pytest.raises(PermissionDenied, match="'iat'"):
        sso.sign_in(db, no_iat, mapping, secret=SECRET)
    assert _audit(db, "login.refused", "ann@x").height == 1
    assert _audit(db, "login.refused", "ann smith <ann@x>").height == 1


def test_login_token_is_keyed_by_the_server_secret():
    claims = _claims("ann@x", ["itscm-leadership"])
    assert sso.login_token(claims, secret="a") == sso.login_token(dict(claims), secret="a")
    assert sso.login_token(claims, secret="a") != sso.login_token(claims, secret="b")
    assert sso.login_token(claims, secret="a") != sso.login_token({**claims, "nonce": "n-2"}, secret="a")
