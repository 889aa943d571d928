"""The bare requests loop: ``python -m benchmarks._bare PLAN.json CREDENTIALS.json``.

Sends the planned requests of a ``leadconvert plan`` output to the Zoho emulator with
``requests``, 10 at a time (Zoho's limit, as ``convert`` uses it). For each mass convert it does
what any client must to learn the outcome: POST the body, GET the job status until it is
completed, GET the leads' state. No validation, no planning, no journal, no report.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from requests.adapters import HTTPAdapter


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as stream:
        plan = json.load(stream)
    with open(sys.argv[2], encoding="utf-8") as stream:
        creds = json.load(stream)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=16))
    base = creds["base_url"]
    token = session.post(
        f"{base}/oauth/v2/token",
        data={
            "refresh_token": creds["refresh_token"],
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "grant_type": "refresh_token",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"}
    # The bodies are prepared before the loop, as the plan wrote them.
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

    with ThreadPoolExecutor(10) as pool:
        converted = sum(pool.map(send, prepared))
    print(json.dumps({"converted": converted}))


if __name__ == "__main__":
    main()
