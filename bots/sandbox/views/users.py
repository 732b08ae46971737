"""Users API (§4.5): look-ups by HUID, e-mail, AD login and other ID, and the CSV export."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from bots.sandbox import protocol, render
from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError
from bots.sandbox.models import SandboxUser
from bots.sandbox.selectors import (
    sandbox_bot_list,
    user_by_huid,
    user_by_login,
    user_by_other_id,
    user_list_by_emails,
    user_list_by_kinds,
    user_not_found,
)
from bots.sandbox.views.base import botx_endpoint

# Which user kinds each users_as_csv switch selects.
CSV_KINDS: dict[str, set[str]] = {
    "cts_user": {SandboxUser.Kind.CTS_USER, SandboxUser.Kind.USER, SandboxUser.Kind.GUEST},
    "unregistered": {SandboxUser.Kind.UNREGISTERED},
}


@botx_endpoint("GET")
def by_huid(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    huid = query.uuid("user_huid")
    query.check()
    return render.ok(render.user(user_by_huid(huid)))


@botx_endpoint("GET", "POST")
def by_email(request: HttpRequest, caller: Caller) -> HttpResponse:
    if request.method == "GET":
        # The deprecated form: one address, one user or 404.
        query = protocol.Body(request.GET)
        email = query.string("email")
        query.check()
        found = user_list_by_emails([email])
        if not found:
            raise user_not_found(email=email)
        return render.ok(render.user(found[0]))
    body = protocol.Body(protocol.json_body(request))
    emails = body.data.get("emails")
    if not isinstance(emails, list) or not all(isinstance(item, str) for item in emails):
        body.problem("emails", "must be a list of strings")
    body.boolean("trusts_search", False)  # one CTS: nothing to search in trusted ones
    body.boolean("partial_response", False)
    body.check()
    return render.ok([render.user(person) for person in user_list_by_emails(emails or [])])


@botx_endpoint("GET")
def by_login(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    ad_login = query.string("ad_login")
    ad_domain = query.string("ad_domain")
    query.check()
    return render.ok(render.user(user_by_login(ad_login=ad_login, ad_domain=ad_domain)))


@botx_endpoint("GET")
def by_other_id(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    other_id = query.string("other_id")
    query.check()
    return render.ok(render.user(user_by_other_id(other_id)))


@botx_endpoint("GET")
def users_as_csv(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    switches = {
        "cts_user": query.boolean("cts_user", True),
        "unregistered": query.boolean("unregistered", True),
    }
    botx = query.boolean("botx", False)
    query.check()
    if not any(switches.values()) and not botx:
        raise SandboxError(400, "no_user_kind_selected", "No user kind selected")
    kinds = set().union(*(CSV_KINDS[name] for name, on in switches.items() if on))
    people = user_list_by_kinds(kinds) if kinds else SandboxUser.objects.none()
    bots = dict(sandbox_bot_list().values_list("bot_id", "name")) if botx else {}
    return HttpResponse(render.users_csv(people, sorted(bots.items())), content_type="text/csv; charset=utf-8")
