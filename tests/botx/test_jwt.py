"""The JWT BotX sends to the bot: both claim layouts, every way a token can fail, key rotation, and
agreement with pybotx in both directions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AnyHttpUrl

from bots.botx.auth import jwt_v2_build
from bots.botx.jwt import (
    LAYOUT_V1,
    LAYOUT_V2,
    UnverifiedRequest,
    VerifiedToken,
    peek_bot_id,
    token_from_header,
    verify_incoming,
)

# Read when pybotx is imported: keeps it from reconfiguring logging for the whole test run.
os.environ.setdefault("PYBOTX_CONFIGURE_LOGGER", "0")
import pybotx
from pybotx.auth import build_botx_jwt_v2

BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")
OTHER_BOT_ID = uuid.UUID("0e0e6c7a-2b1d-4f3e-8a9b-7c6d5e4f3a2b")
SECRET = "bee001bee001bee001bee001bee001bee001"
OLD_SECRET = "c0ffee00c0ffee00c0ffee00c0ffee00c0ff"
HOST = "cts.example.com"
NOW = 1_700_000_000
YEAR_2000 = 946_684_800
YEAR_3000 = 32_503_680_000
DROP = object()  # a claim value meaning "leave this claim out"


def v2_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": str(BOT_ID),
        "aud": HOST,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 60,
        "jti": "2uqpju31h6dgv4f41c005e1i",
        "version": 2,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not DROP}


def v1_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": HOST,
        "aud": [str(BOT_ID)],
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 60,
        "jti": "2uqpju31h6dgv4f41c005e1i",
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not DROP}


def sign(claims: dict[str, Any], secret: str = SECRET, **kwargs: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", **kwargs)


def sign_raw(claims: Any, secret: str = SECRET, header: dict[str, Any] | None = None) -> str:
    """A compact HS256 JWS built by hand, for claims PyJWT refuses to encode (a numeric "iss", ...)."""
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def verify(token: str | None, **kwargs: Any) -> VerifiedToken:
    options: dict[str, Any] = {"bot_id": BOT_ID, "host": HOST, "secrets": [SECRET], "now": NOW} | kwargs
    return verify_incoming(token, **options)


def refusal(token: str | None, **kwargs: Any) -> str:
    with pytest.raises(UnverifiedRequest) as caught:
        verify(token, **kwargs)
    assert str(caught.value) == caught.value.message
    return caught.value.message


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the two layouts -------------------------------------------------------------------------------


def test_a_v2_token_is_accepted():
    result = verify(sign(v2_claims()))

    assert result == VerifiedToken(layout=LAYOUT_V2, bot_id=BOT_ID, issuer=str(BOT_ID), audience=HOST, key_index=0)


def test_a_v1_token_is_accepted():
    result = verify(sign(v1_claims()))

    assert result == VerifiedToken(layout=LAYOUT_V1, bot_id=BOT_ID, issuer=HOST, audience=str(BOT_ID), key_index=0)


def test_a_v2_token_is_recognised_without_the_version_claim():
    # Detection is by content: a string audience and a UUID issuer make it v2.
    assert verify(sign(v2_claims(version=DROP))).layout == LAYOUT_V2


def test_our_own_v2_jwt_builder_produces_tokens_we_accept():
    token = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET, now=NOW)
    assert verify(token).layout == LAYOUT_V2


def test_pybotx_v2_builder_produces_tokens_we_accept():
    token = build_botx_jwt_v2(bot_id=BOT_ID, bot_host=HOST, secret_key=SECRET, issued_at=NOW)
    assert verify(token).layout == LAYOUT_V2


@pytest.mark.parametrize("claims", [v1_claims, v2_claims], ids=["v1", "v2"])
def test_pybotx_test_suite_claim_sets_pass_at_the_real_time(claims):
    # pybotx's own fixtures: issued in 2000, expiring in 3000, checked against the clock.
    token = sign(claims(iat=YEAR_2000, nbf=YEAR_2000, exp=YEAR_3000))
    assert verify(token, now=None).bot_id == BOT_ID


@pytest.mark.parametrize("claims", [v1_claims, v2_claims], ids=["v1", "v2"])
def test_hosts_are_compared_without_regard_to_case(claims):
    assert verify(sign(claims()), host="CTS.Example.COM").bot_id == BOT_ID


def test_a_bot_id_written_in_upper_case_is_the_same_bot():
    assert verify(sign(v2_claims(iss=str(BOT_ID).upper()))).bot_id == BOT_ID
    assert verify(sign(v1_claims(aud=[str(BOT_ID).upper()]))).bot_id == BOT_ID


# --- what makes a token fail -----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
def test_a_missing_token_is_refused(token):
    assert refusal(token) == "The authorization token was not provided."


@pytest.mark.parametrize("claims", [v1_claims, v2_claims], ids=["v1", "v2"])
def test_a_token_signed_with_another_key_is_refused(claims):
    token = sign(claims(), secret="not-the-secret-key-at-all-0000000000")
    assert refusal(token) == "Signature verification failed"


def test_a_token_whose_claims_were_changed_after_signing_is_refused():
    header, _payload, signature = sign(v2_claims()).split(".")
    tampered = b64(json.dumps(v2_claims(iss=str(OTHER_BOT_ID))).encode())

    assert refusal(f"{header}.{tampered}.{signature}") == "Signature verification failed"


@pytest.mark.parametrize("claims", [v1_claims, v2_claims], ids=["v1", "v2"])
def test_an_expired_token_is_refused(claims):
    assert refusal(sign(claims(iat=NOW - 120, nbf=NOW - 120, exp=NOW - 2))) == "Signature has expired"


def test_expiry_has_one_second_of_leeway():
    assert verify(sign(v2_claims(exp=NOW)), now=NOW + 0.5).bot_id == BOT_ID
    assert refusal(sign(v2_claims(exp=NOW)), now=NOW + 1) == "Signature has expired"


@pytest.mark.parametrize("claims", [v1_claims, v2_claims], ids=["v1", "v2"])
def test_a_token_not_yet_valid_by_nbf_is_refused(claims):
    assert refusal(sign(claims(nbf=NOW + 5))) == "The token is not yet valid (nbf)"


@pytest.mark.parametrize("claims", [v1_claims, v2_claims], ids=["v1", "v2"])
def test_a_token_issued_in_the_future_is_refused(claims):
    assert refusal(sign(claims(iat=NOW + 5, nbf=DROP))) == "The token is not yet valid (iat)"


def test_issue_and_start_times_have_one_second_of_leeway():
    assert verify(sign(v2_claims(iat=NOW + 1, nbf=NOW + 1))).bot_id == BOT_ID
    assert refusal(sign(v2_claims(iat=NOW + 2, nbf=DROP))) == "The token is not yet valid (iat)"


def test_the_leeway_can_be_widened():
    assert verify(sign(v2_claims(nbf=NOW + 5)), leeway=10).bot_id == BOT_ID


def test_a_token_without_expiry_is_refused():
    # Stricter than pybotx, which accepts it: a token that never expires is a permanent credential.
    assert refusal(sign(v2_claims(exp=DROP))) == 'Token is missing the "exp" claim'


@pytest.mark.parametrize(
    ("claim", "value", "message"),
    [
        ("exp", "tomorrow", "Expiration Time claim (exp) must be a number."),
        ("exp", True, "Expiration Time claim (exp) must be a number."),
        ("nbf", "now", "Not Before claim (nbf) must be a number."),
        ("iat", None, "Issued At claim (iat) must be a number."),
    ],
)
def test_time_claims_must_be_numbers(claim, value, message):
    assert refusal(sign(v2_claims(**{claim: value}))) == message


@pytest.mark.parametrize(
    "claims",
    [
        v2_claims(aud="other.example.com"),
        v2_claims(aud=""),
        v2_claims(aud=[HOST]),  # v2 by its version claim, but the audience is not a string
        v1_claims(aud=[str(OTHER_BOT_ID)]),
        v1_claims(aud=[str(BOT_ID), str(OTHER_BOT_ID)]),
        v1_claims(aud=[]),
        v1_claims(aud=str(BOT_ID)),
        v1_claims(aud=["not-a-uuid"]),
        v1_claims(aud=DROP),
    ],
    ids=[
        "v2-other-host",
        "v2-empty",
        "v2-list",
        "v1-other-bot",
        "v1-two-bots",
        "v1-empty-list",
        "v1-string",
        "v1-not-a-uuid",
        "v1-missing",
    ],
)
def test_a_token_for_another_audience_is_refused(claims):
    assert refusal(sign(claims)) == "Invalid audience parameter was provided."


@pytest.mark.parametrize(
    "claims",
    [
        v2_claims(iss=str(OTHER_BOT_ID)),
        v2_claims(iss="not-a-uuid"),
        v2_claims(iss=42),
        v1_claims(iss="other.example.com"),
        v1_claims(iss=""),
        v1_claims(iss=["cts.example.com"]),
    ],
    ids=["v2-other-bot", "v2-not-a-uuid", "v2-number", "v1-other-host", "v1-empty", "v1-list"],
)
def test_a_token_from_another_issuer_is_refused(claims):
    assert refusal(sign_raw(claims)) == "Invalid issuer"


@pytest.mark.parametrize("claims", [v1_claims, v2_claims], ids=["v1", "v2"])
def test_a_token_without_an_issuer_is_refused(claims):
    assert refusal(sign(claims(iss=DROP))) == 'Token is missing the "iss" claim'


def test_a_v1_token_from_a_trusted_issuer_is_accepted():
    token = sign(v1_claims(iss="federated.example.org"))

    assert refusal(token) == "Invalid issuer"
    result = verify(token, trusted_issuers=["FEDERATED.example.org"])
    assert (result.layout, result.issuer) == (LAYOUT_V1, "federated.example.org")


def test_trusted_issuers_do_not_widen_v2_tokens():
    # In v2 the issuer is the bot itself; another CTS shows up as the audience and stays refused.
    token = sign(v2_claims(aud="federated.example.org"))
    assert refusal(token, trusted_issuers=["federated.example.org"]) == "Invalid audience parameter was provided."


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b",
        "a.b.c",
        "...",
        "é.é.é",
        "Bearer",
        b64(b'{"alg":"HS256"}') + "." + b64(b"[1, 2]") + ".c2ln",
        b64(b"not json") + "." + b64(json.dumps(v2_claims()).encode()) + ".c2ln",
        b64(b'{"alg":"HS256"}') + "." + b64(b"\xff\xfe") + ".c2ln",
        b64(b'"HS256"') + "." + b64(json.dumps(v2_claims()).encode()) + ".c2ln",
    ],
    ids=[
        "word",
        "two-parts",
        "not-base64",
        "dots",
        "non-ascii",
        "scheme-only",
        "claims-array",
        "header-not-json",
        "claims-not-utf8",
        "header-string",
    ],
)
def test_a_malformed_token_is_refused_with_our_exception_only(token):
    assert refusal(token)


def test_an_unsigned_token_is_refused():
    token = jwt.encode(v2_claims(), None, algorithm="none")
    assert refusal(token) == "The specified alg value is not allowed"


def test_a_token_signed_with_another_algorithm_is_refused():
    token = jwt.encode(v2_claims(), SECRET + SECRET, algorithm="HS512")
    assert refusal(token, secrets=[SECRET + SECRET]) == "The specified alg value is not allowed"


def test_a_token_with_a_critical_header_extension_is_refused():
    token = sign(v2_claims(), headers={"crit": ["exp"], "exp": 1})
    assert refusal(token)


# --- secrets and rotation --------------------------------------------------------------------------


def test_during_a_rotation_the_previous_key_is_still_accepted():
    secrets = [SECRET, OLD_SECRET]

    assert verify(sign(v2_claims(), secret=SECRET), secrets=secrets).key_index == 0
    assert verify(sign(v2_claims(), secret=OLD_SECRET), secrets=secrets).key_index == 1
    assert verify(sign(v1_claims(), secret=OLD_SECRET), secrets=secrets).key_index == 1


def test_after_a_rotation_the_previous_key_is_refused():
    assert refusal(sign(v2_claims(), secret=OLD_SECRET), secrets=[SECRET]) == "Signature verification failed"


def test_empty_secrets_are_skipped_and_keep_their_index():
    assert verify(sign(v2_claims(), secret=OLD_SECRET), secrets=["", OLD_SECRET]).key_index == 1


@pytest.mark.parametrize("secrets", [[], [""]])
def test_a_bot_without_a_secret_accepts_nothing(secrets):
    # Not even a token signed with the empty key.
    token = sign_raw(v2_claims(), secret="")
    assert refusal(token, secrets=secrets) == "No secret key is configured for this bot."


def test_short_secrets_work_without_warnings(recwarn):
    token = sign_raw(v2_claims(), secret="short")
    assert verify(token, secrets=["short"]).key_index == 0
    assert not [warning for warning in recwarn if "HMAC key" in str(warning.message)]


# --- reading the header and the bot id -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer   abc.def.ghi  ", "abc.def.ghi"),
        ("abc.def.ghi", "abc.def.ghi"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_the_token_is_the_last_word_of_the_header(value, expected):
    assert token_from_header(value) == expected


@pytest.mark.parametrize("claims", [v1_claims(), v2_claims(), v2_claims(version=DROP)], ids=["v1", "v2", "v2-bare"])
def test_the_bot_id_can_be_read_before_verifying(claims):
    # Signed with a key we do not know: peeking trusts nothing, it only finds the bot.
    assert peek_bot_id(sign_raw(claims, secret="whoever")) == BOT_ID


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        sign(v1_claims(aud=["not-a-uuid"])),
        sign(v1_claims(aud=[])),
        sign(v1_claims(aud=DROP)),
        sign(v2_claims(iss="not-a-uuid")),
        sign(v1_claims(aud=[42])),
    ],
)
def test_an_unreadable_token_names_no_bot(token):
    assert peek_bot_id(token) is None


# --- agreement with pybotx -------------------------------------------------------------------------


def pybotx_bot() -> pybotx.Bot:
    account = pybotx.BotAccountWithSecret(id=BOT_ID, cts_url=AnyHttpUrl(f"https://{HOST}"), secret_key=SECRET)
    return pybotx.Bot(collectors=[pybotx.HandlerCollector()], bot_accounts=[account])


def pybotx_verdict(token: str, *, trusted_issuers: set[str] | None = None) -> str | None:
    """None when pybotx accepts the token, else its message."""
    try:
        pybotx_bot()._verify_request({"authorization": f"Bearer {token}"}, trusted_issuers=trusted_issuers)
    except pybotx.UnverifiedRequestError as exc:
        return str(exc.args[0])
    return None


def our_verdict(token: str, *, trusted_issuers: set[str] | None = None) -> str | None:
    try:
        verify_incoming(token, bot_id=BOT_ID, host=HOST, secrets=[SECRET], trusted_issuers=trusted_issuers or ())
    except UnverifiedRequest as exc:
        return exc.message
    return None


def test_pybotx_accepts_tokens_made_here():
    now = int(time.time())
    ours = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET)
    v1 = sign(v1_claims(iat=now, nbf=now, exp=now + 60))

    assert pybotx_verdict(ours) is None
    assert pybotx_verdict(v1) is None
    assert our_verdict(ours) is None
    assert our_verdict(v1) is None


def _live(claims_factory: Any, **changes: Any) -> str:
    now = int(time.time())
    base: dict[str, Any] = {"iat": now, "nbf": now, "exp": now + 60}
    return sign(claims_factory(**(base | changes)))


AGREEMENT_CASES = {
    "v2": lambda: _live(v2_claims),
    "v1": lambda: _live(v1_claims),
    "v2-forged": lambda: jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key="another-secret-another-secret-000000"),
    "v1-forged": lambda: sign(v1_claims(exp=YEAR_3000, iat=YEAR_2000, nbf=YEAR_2000), secret="x" * 40),
    "v2-expired": lambda: _live(v2_claims, exp=int(time.time()) - 30),
    "v1-expired": lambda: _live(v1_claims, exp=int(time.time()) - 30),
    "v2-nbf-future": lambda: _live(v2_claims, nbf=int(time.time()) + 30),
    "v2-iat-future": lambda: _live(v2_claims, iat=int(time.time()) + 30, nbf=DROP),
    "v1-iat-future": lambda: _live(v1_claims, iat=int(time.time()) + 30, nbf=DROP),
    "v2-other-host": lambda: _live(v2_claims, aud="other.example.com"),
    "v1-two-audiences": lambda: _live(v1_claims, aud=[str(BOT_ID), str(BOT_ID)]),
    "v1-other-issuer": lambda: _live(v1_claims, iss="other.example.com"),
    "v1-no-issuer": lambda: _live(v1_claims, iss=DROP),
    "v2-no-version-other-host": lambda: _live(v2_claims, version=DROP, aud="other.example.com"),
}


@pytest.mark.parametrize("case", list(AGREEMENT_CASES))
def test_we_and_pybotx_give_the_same_verdict(case):
    token = AGREEMENT_CASES[case]()
    assert our_verdict(token) == pybotx_verdict(token)


def test_we_and_pybotx_agree_on_trusted_issuers():
    token = _live(v1_claims, iss="federated.example.org")
    trusted = {"federated.example.org"}

    assert our_verdict(token, trusted_issuers=trusted) is None
    assert pybotx_verdict(token, trusted_issuers=trusted) is None


# --- robustness ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
claim_names = st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "jti", "version", "sub"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(claim_names, json_values, max_size=8)
    | st.dictionaries(claim_names, json_values, max_size=3).map(lambda changes: v2_claims() | changes)
    | st.dictionaries(claim_names, json_values, max_size=3).map(lambda changes: v1_claims() | changes)
    | json_values
)
def test_any_signed_claims_are_accepted_or_refused_with_our_exception(claims):
    token = sign_raw(claims)
    try:
        result = verify(token)
    except UnverifiedRequest:
        return
    assert result.bot_id == BOT_ID


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"\A[A-Za-z0-9_\-]{0,20}\.[A-Za-z0-9_\-]{0,40}\.[A-Za-z0-9_\-]{0,20}\Z"))
def test_any_text_is_refused_with_our_exception(token):
    with pytest.raises(UnverifiedRequest):
        verify(token)
    peek_bot_id(token)
