"""Upsales client: contact lookups, activity-log (marketing) events and forms over REST v2.

Facts and rules from docs/api/upsales.md: the key goes in a ``Cookie: token=<key>``
header (a token in a URL ends up in logs), JSON envelopes ``{"error", "metadata", "data"}``
where a 200 with a non-null ``error`` is a failure, ``limit``/``offset`` paging, and a daily
call quota that makes batched lookups mandatory.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import dagster as dg
from pydantic import Field, PrivateAttr

from wistia_pipeline.settings import DEFAULT_UPSALES_API_URL, clean_token

from .errors import reason_from_body
from .http import DEFAULT_TIMEOUT, ApiSession
from .retry import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_MAX_ATTEMPTS

__all__ = ["UpsalesClient", "UpsalesResource", "DEFAULT_UPSALES_API_URL", "normalize_emails"]

# docs/api/upsales.md "Rate limits and quota": 200 requests per 10 seconds per key. Our sliding
# window counts requests as they leave and Upsales as they arrive; five requests of slack absorb
# the difference in network delay, so the limiter and not a 429 sets the pace, at 97.5 % of the
# limit.
UPSALES_RATE_WINDOW_S = 10.0
DEFAULT_UPSALES_PER_10S = 195

# docs/api/upsales.md "Paging": limit defaults to 1000 (max 2000); 1000 keeps responses moderate.
PAGE_LIMIT = 1000
# docs/api/upsales.md "Rate limits and quota": one call per 100 views, never one per view.
DEFAULT_EMAIL_BATCH = 100

CONTACTS_PATH = "/v2/contacts"
EVENTS_PATH = "/v2/events"
SELF_PATH = "/v2/self"
FORMS_PATH = "/v2/forms"
FORM_SUBMITS_PATH = "/v2/formSubmits"
# The public endpoint Upsales' own form embeds post to (below the root, not below /v2).
FORM_SUBMIT_PATH = "/external/formSubmit"


def _q(attribute: str, comparison: str, value: Any) -> str:
    """A JSON ``q`` filter, e.g. ``{"a":"email","c":"eq","v":[...]}`` (docs/api/upsales.md)."""
    return json.dumps({"a": attribute, "c": comparison, "v": value}, separators=(",", ":"),
                      ensure_ascii=False)


def normalize_emails(emails: Iterable[str]) -> list[str]:
    """Trimmed, lower-cased, de-duplicated emails in first-seen order; empty ones dropped."""
    seen: dict[str, None] = {}
    for email in emails:
        if not isinstance(email, str):
            continue
        normalized = email.strip().lower()
        if normalized:
            seen.setdefault(normalized, None)
    return list(seen)


def _envelope_error(body: Any) -> tuple[int | None, str] | None:
    """Report a non-null envelope ``error`` (docs/api/upsales.md: a 200 with an error is a
    failure)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if error is None:
        return None
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    reason = reason_from_body(body) or (str(error) if not isinstance(error, dict) else "")
    return code, reason


class UpsalesClient:
    """Talks to Upsales REST v2 below one configured root (``<api_url>/v2/...``)."""

    service = "Upsales"

    def __init__(
        self,
        api_url: str,
        api_token: str,
        *,
        per_10s: int = DEFAULT_UPSALES_PER_10S,
        customer_id: int | str | None = None,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._customer_id_override = str(customer_id).strip() if customer_id not in (None, "") else ""
        # No Content-Type here: requests sets application/json for json= bodies, and a
        # session-wide one would mislabel the form-encoded formSubmit post.
        self.session = ApiSession(
            self.service,
            self.api_url,
            {"Cookie": f"token={api_token}"},
            (per_10s, UPSALES_RATE_WINDOW_S),
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            credential="API key",
            body_check=_envelope_error,
            secrets=(api_token,),
        )

    def __repr__(self) -> str:
        return f"UpsalesClient(api_url={self.api_url!r})"

    def close(self) -> None:
        self.session.close()

    # -- envelope helpers ----------------------------------------------------------------

    def _envelope(self, method: str, path: str, *, params=None, json_body=None) -> dict:
        body = self.session.request_json(method, path, params=params, json=json_body)
        if not isinstance(body, dict) or "data" not in body:
            raise self.session.error(
                f"Upsales {method} {path}: unexpected response shape (no data envelope)",
                status=200, method=method, path=path,
            )
        return body

    def _list(self, path: str, params: dict[str, Any]) -> tuple[list, dict]:
        body = self._envelope("GET", path, params=params)
        data = body.get("data")
        if not isinstance(data, list):
            raise self.session.error(
                f"Upsales GET {path}: unexpected response shape (data is not a list)",
                status=200, method="GET", path=path,
            )
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        return data, metadata

    def _iter_pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict]]:
        """limit/offset paging while a page is full, bounded by ``metadata.total`` when given."""
        offset = 0
        while True:
            data, metadata = self._list(path, {**params, "limit": PAGE_LIMIT, "offset": offset})
            if data:
                yield data
            offset += len(data)
            total = metadata.get("total")
            if not data:
                return
            if isinstance(total, int) and not isinstance(total, bool):
                if offset >= total:
                    return
            elif len(data) < PAGE_LIMIT:
                return

    # -- contacts ------------------------------------------------------------------------

    def get_contacts(self, limit: int = 1, **filters: Any) -> list[dict]:
        """One page of contacts (``GET /v2/contacts?limit=``), ``filters`` as ``field=op:value``
        params: `probe` takes a known contact from it to check the look-ups the pipeline makes."""
        data, _ = self._list(CONTACTS_PATH, {**filters, "limit": limit})
        return data

    def iter_contacts_by_emails(
        self, emails: Iterable[str], batch_size: int = DEFAULT_EMAIL_BATCH
    ) -> Iterator[list[dict]]:
        """Active contacts whose email equals one of ``emails``, one ``q`` list query per batch.

        Emails are trimmed, lower-cased and de-duplicated first; empty ones are skipped
        (an empty email never matches anything).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        wanted = normalize_emails(emails)
        for start in range(0, len(wanted), batch_size):
            batch = wanted[start : start + batch_size]
            yield from self._iter_pages(
                CONTACTS_PATH, {"q": _q("email", "eq", batch), "active": "eq:1"}
            )

    def iter_contacts_by_domain(self, domain: str) -> Iterator[list[dict]]:
        """Active contacts whose email contains ``@<domain>`` (substring filter ``src``)."""
        domain = (domain or "").strip().lower().lstrip("@")
        if not domain:
            return
        yield from self._iter_pages(CONTACTS_PATH, {"email": f"src:@{domain}", "active": "eq:1"})

    # -- events --------------------------------------------------------------------------

    def create_event(self, payload: dict) -> dict:
        """POST an activity-log entry; returns the created object (has ``id``)."""
        data = self._envelope("POST", EVENTS_PATH, json_body=payload).get("data")
        if not isinstance(data, dict):
            raise self.session.error(
                f"Upsales POST {EVENTS_PATH}: unexpected response shape (data is not an object)",
                status=200, method="POST", path=EVENTS_PATH,
            )
        return data

    def delete_event(self, event_id: int | str) -> None:
        """``DELETE /v2/events/{id}`` (answers ``{"error": null}``): `probe --write-test` removes
        its test entry; the pipeline itself never deletes."""
        path = f"{EVENTS_PATH}/{int(event_id)}"
        self.session.request_json("DELETE", path)

    def find_events_by_external_id(self, external_id: str) -> list[dict]:
        """Entries carrying ``externalId``, asked with one plain value rather than a list: `probe
        --write-test` checks its test entry is gone this way, a query that does not rely on
        Upsales honouring the list the pipeline sends (`find_events_by_external_ids`)."""
        data, _ = self._list(EVENTS_PATH, {"q": _q("externalId", "eq", external_id)})
        return data

    def find_events_by_external_ids(self, external_ids: list[str]) -> list[dict]:
        """Entries carrying any of ``external_ids`` (one ``q`` list query per 100 ids)."""
        found: list[dict] = []
        for start in range(0, len(external_ids), DEFAULT_EMAIL_BATCH):
            batch = external_ids[start : start + DEFAULT_EMAIL_BATCH]
            for page in self._iter_pages(EVENTS_PATH, {"q": _q("externalId", "eq", batch)}):
                found += page
        return found

    # -- forms ---------------------------------------------------------------------------

    def find_forms_by_name(self, name: str) -> list[dict]:
        """Forms named exactly ``name``, oldest first.

        Filtered with ``q`` (a name may hold a comma, which ``name=eq:`` would split) and
        compared exactly here, as Upsales compares strings case-insensitively.
        """
        found: list[dict] = []
        for page in self._iter_pages(FORMS_PATH, {"q": _q("name", "eq", name), "sort": "id"}):
            found += [form for form in page if isinstance(form, dict) and form.get("name") == name]
        return sorted(found, key=lambda form: form.get("id") or 0)

    def get_form(self, form_id: int | str) -> dict:
        """One form (``GET /v2/forms/{id}``), with its ``fields``: how a ``fieldId`` in a
        submission's field values is mapped back to the field's name."""
        path = f"{FORMS_PATH}/{int(form_id)}"
        data = self._envelope("GET", path).get("data")
        if not isinstance(data, dict):
            raise self.session.error(f"Upsales GET {path}: unexpected response shape (data is not an object)",
                                     status=200, method="GET", path=path)
        return data

    def delete_form_submit(self, submit_id: int | str) -> None:
        """``DELETE /v2/formSubmits/{id}``, where Upsales allows it (unverified): `probe
        --write-test` tries it on its test submission and names the submission when refused."""
        self.session.request_json("DELETE", f"{FORM_SUBMITS_PATH}/{quote(str(submit_id).strip(), safe='')}")

    def iter_forms(self) -> Iterator[list[dict]]:
        """Every form of the account, pages of up to 1000 (a few dozen in a real account)."""
        yield from self._iter_pages(FORMS_PATH, {"sort": "id"})

    def create_form(self, payload: dict) -> dict:
        """POST a form definition; returns it with its ``id`` and ``uuid``."""
        data = self._envelope("POST", FORMS_PATH, json_body=payload).get("data")
        if not isinstance(data, dict) or not data.get("uuid"):
            raise self.session.error(
                f"Upsales POST {FORMS_PATH}: unexpected response shape (no form uuid)",
                status=200, method="POST", path=FORMS_PATH,
            )
        return data

    def update_form(self, form_id: int | str, changes: dict) -> dict:
        """``PUT /v2/forms/{id}`` with only the fields to change (a whole definition would undo
        edits made in Upsales' editor); idempotent, so the client retries it like a read."""
        path = f"{FORMS_PATH}/{int(form_id)}"
        data = self._envelope("PUT", path, json_body={"id": int(form_id), **changes}).get("data")
        if not isinstance(data, dict):
            raise self.session.error(f"Upsales PUT {path}: unexpected response shape (data is not an object)",
                                     status=200, method="PUT", path=path)
        return data

    def submit_form(self, fields: dict[str, str]) -> str:
        """Submit a form as Upsales' embeds do (form-encoded); returns the submission's id."""
        response = self.session.request("POST", FORM_SUBMIT_PATH, data=fields)
        submission_id = response.text.strip().strip('"')
        if not submission_id:
            raise self.session.error(
                f"Upsales POST {FORM_SUBMIT_PATH}: empty answer (no submission id)",
                status=response.status_code, method="POST", path=FORM_SUBMIT_PATH,
            )
        return submission_id

    def iter_form_submits(self, form_id: int) -> Iterator[list[dict]]:
        """Submissions of one form (``GET /v2/formSubmits?formId=``), pages of up to 1000."""
        yield from self._iter_pages(FORM_SUBMITS_PATH, {"formId": form_id})

    # -- self ----------------------------------------------------------------------------

    def get_self(self) -> dict:
        """The key's user and customer (``GET /v2/self``)."""
        data = self._envelope("GET", SELF_PATH).get("data")
        if not isinstance(data, dict):
            raise self.session.error(
                f"Upsales GET {SELF_PATH}: unexpected response shape (data is not an object)",
                status=200, method="GET", path=SELF_PATH,
            )
        return data

    def customer_id(self) -> int:
        """The customer id for form submits: the configured override, else
        ``data.clients[0].clientId`` of ``GET /v2/self`` (unverified shape, docs/api/upsales.md)."""
        if self._customer_id_override:
            try:
                return int(self._customer_id_override)
            except ValueError:
                raise self.session.error(
                    "UPSALES_CUSTOMER_ID must be a whole number", status=None,
                    method="GET", path=SELF_PATH,
                ) from None
        data = self.get_self()
        clients = data.get("clients")
        first = clients[0] if isinstance(clients, list) and clients else None
        client_id = first.get("clientId") if isinstance(first, dict) else None
        try:
            if isinstance(client_id, bool):
                raise TypeError
            return int(client_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise self.session.error(
                "Upsales GET /v2/self has no clients[0].clientId: set UPSALES_CUSTOMER_ID",
                status=200, method="GET", path=SELF_PATH,
            ) from None

    def verify(self) -> None:
        """One cheap authenticated call; raises AuthError on 401/403."""
        self.get_self()


class _RunClients:
    """The Upsales clients one run uses in this process: one per API root, key and customer id."""

    def __init__(self) -> None:
        self.resources = 0  # resources of the run set up and not yet torn down
        self.clients: dict[tuple[str, str, str], UpsalesClient] = {}


# Runs under way in this process, by run id. A run's steps share its clients (one session, one
# rate limiter per key, so the matching step's look-ups and the ledger step's posts count against
# the same 10-second window); two runs never share one, so each run counts its own calls.
_RUNS: dict[str, _RunClients] = {}
_RUNS_LOCK = threading.Lock()


def key_fingerprint(token: str) -> str:
    """What names an API key in the registry: a SHA-256 digest, never the key itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class UpsalesResource(dg.ConfigurableResource):
    """Dagster resource for Upsales; use ``EnvVar("UPSALES_API_TOKEN")`` for the key.

    Within a run, `get_client` gives every step the same client per API key, made on first use
    and closed when the run's resources are torn down; outside a run (doctor, probe) each call
    makes a client the caller owns."""

    api_token: str = Field(description="Upsales API key (secret; never logged).")
    api_url: str = Field(default=DEFAULT_UPSALES_API_URL,
                         description="API root; /v2/... and /external/... are derived from it.")
    customer_id: str = Field(default="", description="Overrides the customer id from /v2/self.")

    _run: str | None = PrivateAttr(default=None)  # the run this resource is set up for

    def __repr_args__(self):  # keep the key out of repr() and logs
        return [(k, v) for k, v in super().__repr_args__() if k != "api_token"]

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Join the run's clients (the in-process executor sets resources up once per run; a
        step in a process of its own would set them up there, sharing within that process)."""
        run = context.run.run_id if context.run else f"invocation-{uuid.uuid4().hex}"
        with _RUNS_LOCK:
            _RUNS.setdefault(run, _RunClients()).resources += 1
        self._run = run

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """The last resource of the run to go closes the run's clients."""
        run, self._run = self._run, None
        if run is None:
            return
        with _RUNS_LOCK:
            entry = _RUNS[run]
            entry.resources -= 1
            if entry.resources > 0:
                return
            del _RUNS[run]
        for client in entry.clients.values():
            client.close()

    def get_client(self, **options: Any) -> UpsalesClient:
        """In a run, the run's client for this key (no ``options``); otherwise a new one, which
        the caller closes; ``options`` are UpsalesClient's (doctor's short timeouts). SettingsError
        when the key is unusable."""
        if options or self._run is None:
            return self.new_client(**options)
        key = (self.api_url.rstrip("/"), key_fingerprint(clean_token("UPSALES_API_TOKEN", self.api_token)),
               self.customer_id)
        with _RUNS_LOCK:
            clients = _RUNS[self._run].clients
            if key not in clients:
                clients[key] = self.new_client()
            return clients[key]

    def new_client(self, **options: Any) -> UpsalesClient:
        """A client of its own, with the key cleaned as `doctor` cleans it (settings.clean_token:
        a stray space or line break would otherwise pass doctor and fail the run with 401); a run
        uses the defaults."""
        token = clean_token("UPSALES_API_TOKEN", self.api_token)
        return UpsalesClient(self.api_url.rstrip("/"), token, customer_id=self.customer_id or None, **options)
