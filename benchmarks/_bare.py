"""The bare requests loop: ``python -m benchmarks._bare BACKEND PLAN.json HELLO.json WORKERS``.

Sends the requests of a ``leadconvert plan`` document to an emulator with ``requests``, as many
at a time as ``convert`` keeps in flight, and makes the same HTTP calls ``leadconvert convert``
makes (the benchmark checks the emulator's request log of both): what any client must do to
sign in, to fill in what a plan leaves to sending time, to convert, and to learn each lead's
outcome. The bodies are prepared before the loop, as the plan wrote them. No validation, no
planning, no journal, no report; it prints ``{"converted": n}``.

Every request has the timeout leadconvert gives that backend's requests by default
(``_TIMEOUTS``): a client must not wait forever, and the wait costs a ``poll`` per socket read.

* Zoho: token; the org (``convert`` reads the org id once, for its journal); each request;
  for a mass convert, the job status until it is completed, then the leads' state.
* Salesforce: SOAP login; the converted lead status (a query); each convertLead with the
  session and status filled in; then the follow-up updates of the opportunities it created.
* Dynamics 365: the OpenID discovery and the token (as MSAL makes them); WhoAmI; the lead
  statuscode and statecode metadata (the default Qualified status); per qualify ``$batch`` the
  contact check of leads merged into an account and a contact (as ``convert`` checks them); the
  ``$batch`` with the status filled in; then its follow-up ``$batch`` with the created records'
  ids filled in.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from requests.adapters import HTTPAdapter

#: leadconvert's default timeout for each backend's requests. A client that can wait forever is
#: not one a migration can run: every request has a timeout, in leadconvert and here. With one,
#: Python's socket waits in ``poll`` before each read and write (a system call, and the GIL
#: handed over and back); without one, the bare loop left that out of its side of the ratio.
_TIMEOUTS: dict[str, float | tuple[float, float]] = {
    "zoho": (10.0, 30.0),
    "salesforce": 120.0,
    "dynamics": 120.0,
}


class _TimeoutSession(requests.Session):
    """``requests.Session`` with a timeout on every request that does not give its own."""

    def __init__(self, timeout: float | tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def _session(backend: str, workers: int, verify: str | bool = True) -> requests.Session:
    session = _TimeoutSession(_TIMEOUTS[backend])
    adapter = HTTPAdapter(pool_maxsize=workers + 4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    # The emulator is on loopback: no proxy, and its own CA even if REQUESTS_CA_BUNDLE is set.
    session.trust_env = False
    return session


# --- Zoho ---------------------------------------------------------------------------------------


def zoho(plan: dict[str, Any], hello: dict[str, Any], workers: int) -> int:
    creds = hello["credentials"]
    session = _session("zoho", workers)
    base = creds["api_domain"]
    token = session.post(
        f"{creds['accounts_url']}/oauth/v2/token",
        data={
            "refresh_token": creds["refresh_token"],
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "grant_type": "refresh_token",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"}
    session.get(f"{base}/crm/v8/org", headers=headers).raise_for_status()
    prepared = [(r["path"], json.dumps(r["json"]).encode(), r["leads"]) for r in plan["requests"]]

    def send(item: tuple[str, bytes, list[str]]) -> int:
        path, body, leads = item
        answer = session.post(base + path, data=body, headers=headers).json()
        if path.endswith("/mass_convert"):
            job = answer["details"]["job_id"]
            while True:
                status = session.get(base + path, params={"job_id": job}, headers=headers).json()
                if status["data"][0]["Status"] in ("COMPLETED", "FAILED"):
                    break
                time.sleep(0.01)
            params = {"ids": ",".join(leads), "converted": "both", "fields": "Last_Name"}
            state: Any = session.get(f"{base}/crm/v8/Leads", params=params, headers=headers)
            return sum(1 for r in state.json()["data"] if r["$converted"])
        return sum(1 for r in answer["data"] if r["status"] == "success")

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(send, prepared))


# --- Salesforce ---------------------------------------------------------------------------------

_LOGIN = (
    '<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:xsd="http://www.w3.org/2001/'
    'XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:env="http://schemas.'
    'xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com"><env:Header/><env:Body>'
    '<n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>{username}</n1:username>'
    "<n1:password>{password}</n1:password></n1:login></env:Body></env:Envelope>"
)
_RESULT = re.compile(r"<result>(.*?)</result>", re.S)


def _tag(name: str, text: str) -> str | None:
    match = re.search(f"<{name}>([^<]*)</{name}>", text)
    return match.group(1) if match else None


def salesforce(plan: dict[str, Any], hello: dict[str, Any], workers: int) -> int:
    creds = hello["credentials"]
    session = _session("salesforce", workers, creds["ca_bundle"])
    login = session.post(
        f"https://{creds['domain']}.salesforce.com/services/Soap/u/59.0",
        data=_LOGIN.format(
            username=creds["username"], password=creds["password"] + creds["security_token"]
        ).encode(),
        headers={"Content-Type": "text/xml", "SOAPAction": "login"},
    ).text
    session_id, server = _tag("sessionId", login), _tag("serverUrl", login)
    assert session_id and server, login
    instance = server.split("/")[2]
    rest = {"Authorization": f"Bearer {session_id}"}
    soql = "SELECT ApiName, MasterLabel FROM LeadStatus WHERE IsConverted = true"
    query = session.get(
        f"https://{instance}/services/data/v59.0/query/", params={"q": soql}, headers=rest
    ).json()
    status = query["records"][0]["ApiName"]
    soap = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
    patch = {**rest, "Content-Type": "application/json"}
    # Each convertLead with the updates that wait for it, bodies prepared before the loop.
    tasks: list[tuple[bytes, list[tuple[str, bytes]]]] = []
    for request in plan["requests"]:
        if request["kind"] == "convertLead":
            body = (
                request["body"]
                .replace("{{SALESFORCE_SESSION_ID}}", session_id)
                .replace("{{DISCOVERED_CONVERTED_STATUS}}", status)
            )
            tasks.append((body.encode(), []))
        else:
            tasks[-1][1].append((request["leads"][0], json.dumps(request["json"]).encode()))

    def send(task: tuple[bytes, list[tuple[str, bytes]]]) -> int:
        body, updates = task
        answer = session.post(f"https://{instance}/services/Soap/u/59.0", data=body, headers=soap)
        opportunities: dict[str, str] = {}
        converted = 0
        for result in _RESULT.findall(answer.text):
            if _tag("success", result) == "true":
                converted += 1
                lead, opportunity = _tag("leadId", result), _tag("opportunityId", result)
                if lead and opportunity:
                    opportunities[lead] = opportunity
        for lead, update in updates:
            url = f"https://{instance}/services/data/v59.0/sobjects/Opportunity/"
            session.patch(url + opportunities[lead], data=update, headers=patch).raise_for_status()
        return converted

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(send, tasks))


# --- Dynamics 365 -------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(account|contact|opportunity) of lead ([^{}()]+)\}")
_BOTH_BINDS = re.compile(r'"parentaccountid@odata\.bind".*"parentcontactid@odata\.bind": '
                         r'"/contacts\(([0-9a-f-]+)\)"')  # fmt: skip


def _items(answer: requests.Response) -> list[str]:
    """The parts of a ``$batch`` answer (a change set's answer is one item)."""
    boundary = answer.headers["Content-Type"].split("boundary=", 1)[1].strip('"')
    return answer.text.split(f"--{boundary}")[1:-1]


_JSON_LINE = re.compile(r"^(\{.*\})\r?$", re.M)


def _last_json(item: str) -> Any:
    """The JSON body of an item's last part (a QualifyLead answer is one line of JSON)."""
    bodies = _JSON_LINE.findall(item)
    return json.loads(bodies[-1]) if bodies else None


def dynamics(plan: dict[str, Any], hello: dict[str, Any], workers: int) -> int:
    creds = hello["credentials"]
    session = _session("dynamics", workers, creds["ca_bundle"])
    authority = f"{creds['authority_host']}/{creds['tenant_id']}"
    session.get(f"{authority}/v2.0/.well-known/openid-configuration").raise_for_status()
    token = session.post(
        f"{authority}/oauth2/v2.0/token",
        data={
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "scope": f"{creds['org_url']}/.default",
            "grant_type": "client_credentials",
        },
    ).json()["access_token"]
    api = f"{creds['org_url']}/api/data/v9.2/"
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
    }
    session.get(api + "WhoAmI", headers=headers).raise_for_status()
    metadata = (
        "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='{}')/"
        "Microsoft.Dynamics.CRM.{}"
    )
    expand = {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"}
    session.get(api + metadata.format("statuscode", "StatusAttributeMetadata"), params=expand,
                headers=headers).raise_for_status()  # fmt: skip
    states = session.get(
        api + metadata.format("statecode", "StateAttributeMetadata"), params=expand,
        headers=headers,
    ).json()  # fmt: skip
    default = next(o["DefaultStatus"] for o in states["OptionSet"]["Options"] if o["Value"] == 1)
    batch_headers = {**headers, "Prefer": "odata.continue-on-error"}
    # Each qualify $batch with the follow-up $batch that waits for it, prepared before the loop.
    tasks: list[tuple[bytes, list[str], list[str], str | None]] = []
    for request in plan["requests"]:
        body = request["body"]
        if request["kind"] == "qualify_batch":
            checked = sorted(set(_BOTH_BINDS.findall(body)))
            tasks.append(
                (body.replace('"Status": null', f'"Status": {default}').encode(), checked,
                 request["leads"], None)
            )  # fmt: skip
        else:
            tasks[-1] = (*tasks[-1][:3], body)

    def post(body: bytes | str) -> requests.Response:
        text = body if isinstance(body, str) else body.decode()
        boundary = text.split("\r\n", 1)[0][2:]
        content = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
        return session.post(api + "$batch", data=body, headers={**batch_headers, **content})

    def send(task: tuple[bytes, list[str], list[str], str | None]) -> int:
        body, contacts, leads, follow_up = task
        if contacts:
            where = " or ".join(f"contactid eq {c}" for c in contacts)
            session.get(
                api + "contacts",
                params={"$select": "contactid,_parentcustomerid_value", "$filter": where},
                headers=headers,
            ).raise_for_status()
        created: dict[tuple[str, str], str] = {}
        converted = 0
        for lead, item in zip(leads, _items(post(body)), strict=True):
            answer = _last_json(item)
            if answer is None or "value" not in answer:
                continue
            converted += 1
            for record in answer["value"]:
                entity = record["@odata.type"].rsplit(".", 1)[1]
                created[(entity, lead)] = record[f"{entity}id"]
        if follow_up is not None:
            text = _PLACEHOLDER.sub(lambda m: created[(m.group(1), m.group(2))], follow_up)
            for item in _items(post(text)):
                assert " 204 " in item or " 200 " in item, item[:500]
        return converted

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(send, tasks))


BACKENDS: dict[str, Callable[[dict[str, Any], dict[str, Any], int], int]] = {
    "zoho": zoho,
    "salesforce": salesforce,
    "dynamics": dynamics,
}


def main() -> None:
    backend, plan_path, hello_path, workers = sys.argv[1:5]
    with open(plan_path, encoding="utf-8") as stream:
        plan = json.load(stream)
    with open(hello_path, encoding="utf-8") as stream:
        hello = json.load(stream)
    converted = BACKENDS[backend](plan, hello, int(workers))
    print(json.dumps({"converted": converted}))


if __name__ == "__main__":
    main()
